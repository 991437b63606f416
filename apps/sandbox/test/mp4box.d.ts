/**
 * The part of mp4box's API the tests use. The package ships its types only for `node16`/`bundler` module resolution
 * (its `types` entry points at a file it does not ship), which this repo's `commonjs` setting cannot reach.
 */
declare module "mp4box" {
  export interface Track {
    codec: string;
    nb_samples: number;
    video?: { width: number; height: number };
  }
  export interface Movie {
    duration: number;
    timescale: number;
    brands: string[];
    tracks: Track[];
  }
  export interface ISOFile {
    boxes: Array<{ type?: string }>;
    onReady?: (movie: Movie) => void;
    onError?: (module: string, message: string) => void;
    appendBuffer(buffer: ArrayBuffer & { fileStart: number }): number;
    flush(): void;
  }
  export function createFile(): ISOFile;
}
