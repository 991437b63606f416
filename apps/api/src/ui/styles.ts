import { JOB_STATUSES, type JobStatus } from "@kex/contract";

/** One color per job status: bars, legends, badges. */
export const STATUS_COLORS: Record<JobStatus, string> = {
  queued: "#cbd5e1",
  submitting: "#a78bfa",
  submitted: "#60a5fa",
  processing: "#f59e0b",
  succeeded: "#22c55e",
  failed: "#ef4444",
  canceled: "#64748b",
};

/** Statuses whose color is light enough to need dark text on a badge. */
const DARK_TEXT: readonly JobStatus[] = ["queued", "processing", "succeeded"];

export const CSS = `
:root{--fg:#0f172a;--muted:#64748b;--line:#e2e8f0;--bg:#f8fafc;--accent:#2563eb;${JOB_STATUSES.map((s) => `--${s}:${STATUS_COLORS[s]}`).join(";")}}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;flex-wrap:wrap;gap:.4rem 1.25rem;align-items:center;padding:.6rem 1.25rem;background:#0f172a;color:#e2e8f0}
header a{color:#cbd5e1;text-decoration:none}header a:hover,header a[aria-current]{color:#fff}
header .brand{font-weight:700;color:#fff;letter-spacing:.02em}
.live{margin-left:auto;font-size:.8rem;color:#94a3b8}.live::before{content:"● "}.live.on::before{color:#22c55e}.live.err::before{color:#ef4444}
main{max-width:1200px;margin:0 auto;padding:1rem 1.25rem 3rem}
h1{font-size:1.25rem;margin:.4rem 0 1rem;overflow-wrap:anywhere}h2{font-size:1.05rem;margin:1.5rem 0 .5rem}
a{color:var(--accent)}
code,.mono,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85em}
.muted{color:var(--muted)}
.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:1rem;margin-bottom:1rem}
.scroll{overflow-x:auto;border:1px solid var(--line);border-radius:8px;background:#fff}
table{width:100%;border-collapse:collapse}table.events{min-width:44rem}
th,td{padding:.45rem .6rem;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
tr:last-child td{border-bottom:0}
th{background:#f1f5f9;font-weight:600;font-size:.75rem;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);white-space:nowrap}
td.num{text-align:right}td.nowrap{white-space:nowrap}td.prompt{max-width:28rem;overflow-wrap:anywhere}
.summary{display:flex;justify-content:space-between;gap:1rem;font-size:.85rem;margin-bottom:.3rem}
.bar{display:flex;height:12px;border-radius:6px;overflow:hidden;background:#eef2f7}
.big .bar{height:22px}
.seg{transition:width .4s ease}
.legend{display:flex;flex-wrap:wrap;gap:.15rem .9rem;list-style:none;margin:.4rem 0 0;padding:0;font-size:.8rem}
.legend li.zero{opacity:.4}
.sw{display:inline-block;width:.7rem;height:.7rem;border-radius:3px;margin-right:.3rem;vertical-align:-1px}
${JOB_STATUSES.map((s) => `.s-${s}{background:var(--${s})}`).join("")}
.badge{display:inline-block;padding:.05rem .5rem;border-radius:999px;font-size:.78rem;font-weight:600;color:#fff;white-space:nowrap}
${DARK_TEXT.map((s) => `.badge.s-${s}`).join(",")}{color:#0f172a}
.state{font-weight:600}.state.done{color:#15803d}.state.running{color:#b45309}
nav.filters{display:flex;flex-wrap:wrap;gap:.4rem;margin:.9rem 0}
nav.filters a{padding:.15rem .65rem;border:1px solid var(--line);border-radius:999px;text-decoration:none;background:#fff;color:var(--fg);font-size:.85rem}
nav.filters a[aria-current]{background:var(--fg);border-color:var(--fg);color:#fff}
form.filters{display:flex;flex-wrap:wrap;gap:.6rem;align-items:flex-end;margin:0 0 1rem}
form.filters label{display:flex;flex-direction:column;font-size:.8rem;color:var(--muted);gap:.15rem}
input,select,button{font:inherit;padding:.3rem .5rem;border:1px solid #cbd5e1;border-radius:6px;background:#fff}
input[name=batch_id]{width:22rem;max-width:100%}button{background:var(--fg);color:#fff;border-color:var(--fg);cursor:pointer}
dl.fields{display:grid;grid-template-columns:max-content 1fr;gap:.35rem 1.2rem;margin:0}
dt{color:var(--muted)}dd{margin:0;min-width:0;overflow-wrap:anywhere}
pre{white-space:pre-wrap;overflow-wrap:anywhere;margin:0;background:var(--bg);padding:.5rem .6rem;border-radius:6px;border:1px solid var(--line)}
details summary{cursor:pointer;color:var(--accent);font-size:.85rem}details pre{margin-top:.3rem;max-height:24rem;overflow:auto}
.error{border-color:#fecaca;background:#fef2f2}.error h2{color:#b91c1c;margin-top:0}
video{display:block;max-width:100%;max-height:60vh;background:#000;border-radius:6px;margin-bottom:.5rem}
.pager{display:flex;gap:1rem;margin-top:.75rem}
.notice{background:#fffbeb;border:1px solid #fde68a;border-radius:6px;padding:.4rem .7rem}
@media (max-width:700px){main{padding:.75rem}.hide-sm{display:none}dl.fields{grid-template-columns:1fr}dd{margin-bottom:.4rem}}
`;
