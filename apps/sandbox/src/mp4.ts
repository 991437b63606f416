/**
 * A real, tiny MP4 for the sandbox's video URLs: an ISO BMFF file (`ftyp` + `moov` + `mdat`) holding one H.264
 * Baseline track. The first frame is an IDR picture whose macroblocks are all I_PCM (raw samples, so no encoder is
 * needed), the others are P pictures with every macroblock skipped (the same image again). Any player or demuxer
 * accepts it; it is a few KB. Built once per process (see `sandboxMp4`).
 */

class BitWriter {
  private readonly bytes: number[] = [];
  private current = 0;
  private used = 0;

  bit(value: number): void {
    this.current = (this.current << 1) | (value & 1);
    this.used++;
    if (this.used === 8) {
      this.bytes.push(this.current);
      this.current = 0;
      this.used = 0;
    }
  }

  bits(value: number, count: number): void {
    for (let i = count - 1; i >= 0; i--) this.bit((value >>> i) & 1);
  }

  /** Exp-Golomb, unsigned. */
  ue(value: number): void {
    const coded = value + 1;
    const length = Math.floor(Math.log2(coded));
    this.bits(0, length);
    this.bits(coded, length + 1);
  }

  /** Exp-Golomb, signed. */
  se(value: number): void {
    this.ue(value <= 0 ? -2 * value : 2 * value - 1);
  }

  aligned(): boolean {
    return this.used === 0;
  }

  alignZero(): void {
    while (!this.aligned()) this.bit(0);
  }

  byte(value: number): void {
    this.bits(value, 8);
  }

  /** rbsp_trailing_bits: a stop bit, then zeros to the byte boundary. */
  finish(): Buffer {
    this.bit(1);
    this.alignZero();
    return Buffer.from(this.bytes);
  }
}

/** Inserts emulation-prevention bytes (00 00 0x → 00 00 03 0x for x ≤ 3) and prepends the NAL header byte. */
function nal(header: number, rbsp: Buffer): Buffer {
  const out: number[] = [header];
  let zeros = 0;
  for (const byte of rbsp) {
    if (zeros >= 2 && byte <= 3) {
      out.push(3);
      zeros = 0;
    }
    out.push(byte);
    zeros = byte === 0 ? zeros + 1 : 0;
  }
  return Buffer.from(out);
}

const PROFILE_BASELINE = 66;
const LEVEL = 10;
const LOG2_MAX_FRAME_NUM = 4;

function sps(widthMbs: number, heightMbs: number): Buffer {
  const w = new BitWriter();
  w.byte(PROFILE_BASELINE);
  w.byte(0xc0); // constraint_set0 and constraint_set1: plain Baseline
  w.byte(LEVEL);
  w.ue(0); // seq_parameter_set_id
  w.ue(LOG2_MAX_FRAME_NUM - 4);
  w.ue(2); // pic_order_cnt_type 2: output order = decoding order
  w.ue(1); // max_num_ref_frames
  w.bit(0); // gaps_in_frame_num_value_allowed_flag
  w.ue(widthMbs - 1);
  w.ue(heightMbs - 1);
  w.bit(1); // frame_mbs_only_flag
  w.bit(1); // direct_8x8_inference_flag
  w.bit(0); // frame_cropping_flag
  w.bit(0); // vui_parameters_present_flag
  return nal(0x67, w.finish());
}

function pps(): Buffer {
  const w = new BitWriter();
  w.ue(0); // pic_parameter_set_id
  w.ue(0); // seq_parameter_set_id
  w.bit(0); // entropy_coding_mode_flag: CAVLC
  w.bit(0); // bottom_field_pic_order_in_frame_present_flag
  w.ue(0); // num_slice_groups_minus1
  w.ue(0); // num_ref_idx_l0_default_active_minus1
  w.ue(0); // num_ref_idx_l1_default_active_minus1
  w.bit(0); // weighted_pred_flag
  w.bits(0, 2); // weighted_bipred_idc
  w.se(0); // pic_init_qp_minus26
  w.se(0); // pic_init_qs_minus26
  w.se(0); // chroma_qp_index_offset
  w.bit(0); // deblocking_filter_control_present_flag
  w.bit(0); // constrained_intra_pred_flag
  w.bit(0); // redundant_pic_cnt_present_flag
  return nal(0x68, w.finish());
}

/** An IDR picture of I_PCM macroblocks: a diagonal luma gradient, flat chroma. */
function idrSlice(widthMbs: number, heightMbs: number): Buffer {
  const w = new BitWriter();
  w.ue(0); // first_mb_in_slice
  w.ue(7); // slice_type: I (all slices of the picture)
  w.ue(0); // pic_parameter_set_id
  w.bits(0, LOG2_MAX_FRAME_NUM); // frame_num
  w.ue(0); // idr_pic_id
  w.bit(0); // no_output_of_prior_pics_flag
  w.bit(0); // long_term_reference_flag
  w.se(0); // slice_qp_delta
  for (let mbY = 0; mbY < heightMbs; mbY++) {
    for (let mbX = 0; mbX < widthMbs; mbX++) {
      w.ue(25); // mb_type I_PCM
      w.alignZero(); // pcm_alignment_zero_bit
      for (let y = 0; y < 16; y++) {
        for (let x = 0; x < 16; x++) w.byte(32 + ((mbX * 16 + x + mbY * 16 + y) * 3) % 192);
      }
      for (let i = 0; i < 128; i++) w.byte(i < 64 ? 96 : 160); // Cb then Cr, 8×8 each
    }
  }
  return nal(0x65, w.finish());
}

/** A P picture with every macroblock skipped: the previous image again. Kept as a reference so frame_num counts up. */
function skipSlice(frameNum: number, mbCount: number): Buffer {
  const w = new BitWriter();
  w.ue(0); // first_mb_in_slice
  w.ue(5); // slice_type: P (all slices of the picture)
  w.ue(0); // pic_parameter_set_id
  w.bits(frameNum % 2 ** LOG2_MAX_FRAME_NUM, LOG2_MAX_FRAME_NUM);
  w.bit(0); // num_ref_idx_active_override_flag
  w.bit(0); // ref_pic_list_modification_flag_l0
  w.bit(0); // adaptive_ref_pic_marking_mode_flag
  w.se(0); // slice_qp_delta
  w.ue(mbCount); // mb_skip_run
  return nal(0x41, w.finish());
}

function box(type: string, ...children: Buffer[]): Buffer {
  const body = Buffer.concat(children);
  const header = Buffer.alloc(8);
  header.writeUInt32BE(8 + body.length, 0);
  header.write(type, 4, "ascii");
  return Buffer.concat([header, body]);
}

function fullBox(type: string, version: number, flags: number, ...children: Buffer[]): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(((version & 0xff) << 24) | (flags & 0xffffff), 0);
  return box(type, head, ...children);
}

function u32(...values: number[]): Buffer {
  const out = Buffer.alloc(4 * values.length);
  values.forEach((value, i) => out.writeUInt32BE(value >>> 0, 4 * i));
  return out;
}

function u16(...values: number[]): Buffer {
  const out = Buffer.alloc(2 * values.length);
  values.forEach((value, i) => out.writeUInt16BE(value & 0xffff, 2 * i));
  return out;
}

const IDENTITY_MATRIX = u32(0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000);

export interface Mp4Options {
  /** Multiples of 16. Default 32×32. */
  width?: number;
  height?: number;
  /** Default 10. */
  frames?: number;
  /** Default 10. */
  fps?: number;
}

/** Builds the file. Deterministic: the same options give the same bytes. */
export function buildMp4(options: Mp4Options = {}): Buffer {
  const { width = 32, height = 32, frames = 10, fps = 10 } = options;
  if (width % 16 !== 0 || height % 16 !== 0 || width <= 0 || height <= 0) throw new Error("width and height must be positive multiples of 16");
  const widthMbs = width / 16;
  const heightMbs = height / 16;
  const spsNal = sps(widthMbs, heightMbs);
  const ppsNal = pps();

  // Samples: length-prefixed NAL units (4-byte lengths, as avcC says).
  const samples: Buffer[] = [];
  for (let i = 0; i < frames; i++) {
    const unit = i === 0 ? idrSlice(widthMbs, heightMbs) : skipSlice(i, widthMbs * heightMbs);
    samples.push(Buffer.concat([u32(unit.length), unit]));
  }

  const timescale = fps * 1000;
  const sampleDelta = 1000;
  const duration = frames * sampleDelta;

  const avcC = box(
    "avcC",
    Buffer.from([1, PROFILE_BASELINE, 0xc0, LEVEL, 0xff /* 4-byte NAL lengths */, 0xe1 /* one SPS */]),
    u16(spsNal.length),
    spsNal,
    Buffer.from([1]),
    u16(ppsNal.length),
    ppsNal,
  );
  const compressorName = Buffer.alloc(32);
  const avc1 = box(
    "avc1",
    Buffer.alloc(6), // reserved
    u16(1), // data_reference_index
    Buffer.alloc(16), // pre_defined, reserved
    u16(width, height),
    u32(0x00480000, 0x00480000), // 72 dpi
    u32(0), // reserved
    u16(1), // frame_count
    compressorName,
    u16(0x0018), // depth
    u16(0xffff), // pre_defined = -1
    avcC,
  );

  const buildMoov = (mdatDataOffset: number): Buffer => {
    const chunkOffsets: number[] = [];
    let offset = mdatDataOffset;
    for (const sample of samples) {
      chunkOffsets.push(offset);
      offset += sample.length;
    }
    const stbl = box(
      "stbl",
      fullBox("stsd", 0, 0, u32(1), avc1),
      fullBox("stts", 0, 0, u32(1, frames, sampleDelta)),
      fullBox("stss", 0, 0, u32(1, 1)), // only the first sample is a sync sample
      fullBox("stsc", 0, 0, u32(1, 1, 1, 1)), // one sample per chunk
      fullBox("stsz", 0, 0, u32(0, frames), ...samples.map((s) => u32(s.length))),
      fullBox("stco", 0, 0, u32(chunkOffsets.length, ...chunkOffsets)),
    );
    const minf = box(
      "minf",
      fullBox("vmhd", 0, 1, u16(0, 0, 0, 0)),
      box("dinf", fullBox("dref", 0, 0, u32(1), fullBox("url ", 0, 1))),
      stbl,
    );
    const mdia = box(
      "mdia",
      fullBox("mdhd", 0, 0, u32(0, 0, timescale, duration), u16(0x55c4 /* "und" */, 0)),
      fullBox("hdlr", 0, 0, u32(0), Buffer.from("vide", "ascii"), u32(0, 0, 0), Buffer.from("VideoHandler\0", "ascii")),
      minf,
    );
    const tkhd = fullBox(
      "tkhd",
      0,
      3, // enabled, in movie
      u32(0, 0, 1 /* track_ID */, 0, duration),
      u32(0, 0),
      u16(0, 0, 0, 0), // layer, alternate_group, volume, reserved
      IDENTITY_MATRIX,
      u32(width << 16, height << 16),
    );
    const mvhd = fullBox(
      "mvhd",
      0,
      0,
      u32(0, 0, timescale, duration),
      u32(0x00010000), // rate 1.0
      u16(0x0100, 0), // volume 1.0, reserved
      u32(0, 0),
      IDENTITY_MATRIX,
      Buffer.alloc(24), // pre_defined
      u32(2), // next_track_ID
    );
    return box("moov", mvhd, box("trak", tkhd, mdia));
  };

  const ftyp = box("ftyp", Buffer.from("isom", "ascii"), u32(0x200), Buffer.from("isomiso2avc1mp41", "ascii"));
  // moov's size does not depend on the offsets it holds, so build it once to learn where mdat's data starts.
  const moovSize = buildMoov(0).length;
  const moov = buildMoov(ftyp.length + moovSize + 8);
  const mdat = box("mdat", ...samples);
  return Buffer.concat([ftyp, moov, mdat]);
}

let cached: Buffer | null = null;

/** The file every sandbox video URL serves, built on first use and shared (it never changes). */
export function sandboxMp4(): Buffer {
  cached ??= buildMp4();
  return cached;
}
