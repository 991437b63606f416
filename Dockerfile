# One image for every app in the monorepo (api, worker, sandbox) plus the migration step.
# The default command runs the api; docker-compose.yml overrides it per service. Each app is
# started the way its `npm start` does it (`tsx src/main.ts` in the workspace directory), but
# without npm in between: npm does not pass SIGTERM on to the app, so `docker stop` would kill it
# without a graceful shutdown. tsx does relay signals to the app.
#   docker run IMAGE                                          -> api
#   docker run -w /app/apps/worker IMAGE tsx src/main.ts      -> worker (likewise apps/sandbox)
#   docker run -w /app IMAGE npm run db:migrate               -> migrations
# The apps run TypeScript directly with tsx, so dev dependencies (tsx, prisma) stay installed.
# No secrets are baked in: API_TOKEN, CALLBACK_SECRET, KLING_* keys, DATABASE_URL, ... come from the
# environment at run time.
FROM node:20-bookworm-slim

# Prisma probes openssl to detect the platform; ca-certificates for outbound HTTPS from the OS tools.
RUN apt-get update \
 && apt-get install -y --no-install-recommends openssl ca-certificates \
 && rm -rf /var/lib/apt/lists/*

ENV NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false \
    CHECKPOINT_DISABLE=1 \
    PRISMA_HIDE_UPDATE_MESSAGE=1 \
    PRISMA_SKIP_POSTINSTALL_GENERATE=1

WORKDIR /app
RUN chown node:node /app
USER node

# Manifests first, so the dependency layer is rebuilt only when they change.
# Add a line here for every new workspace (npm ci fails loudly if one is missing).
COPY --chown=node:node package.json package-lock.json ./
COPY --chown=node:node apps/api/package.json apps/api/
COPY --chown=node:node apps/worker/package.json apps/worker/
COPY --chown=node:node apps/sandbox/package.json apps/sandbox/
COPY --chown=node:node packages/core/package.json packages/core/
COPY --chown=node:node packages/db/package.json packages/db/
COPY --chown=node:node packages/kling/package.json packages/kling/
COPY --chown=node:node packages/queue/package.json packages/queue/
COPY --chown=node:node packages/testing/package.json packages/testing/
COPY --chown=node:node e2e/package.json e2e/

# --ignore-scripts: no dependency install scripts (in particular Prisma's engine download; the
# project uses Prisma's JS engine with the pg adapter, see prisma/prisma.config.ts).
RUN npm ci --ignore-scripts

COPY --chown=node:node . .

# Generates the client into packages/db/src/generated. No database is contacted; the placeholder
# DATABASE_URL default in prisma/prisma.config.ts is enough for `generate`.
RUN npm run db:generate

ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    PATH=/app/node_modules/.bin:$PATH

# 3000: api, 4010: sandbox (the worker listens on nothing).
EXPOSE 3000 4010

WORKDIR /app/apps/api
CMD ["tsx", "src/main.ts"]
