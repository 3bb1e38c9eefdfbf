// WebDNN.Image: turn an image into the Float32Array a model expects: y = (pixel - bias) / scale.

/** Channel order of the result. */
export const Color = { RGB: 'RGB', BGR: 'BGR', GREY: 'GREY' } as const;
export type ColorOrder = (typeof Color)[keyof typeof Color];

/** Memory layout of the result: interleaved (HWC) or planar (CHW). */
export const Order = { HWC: 'HWC', CHW: 'CHW' } as const;
export type DataOrder = (typeof Order)[keyof typeof Order];

/** Anything shaped like ImageData: RGBA bytes, row-major. */
export interface ImageDataLike {
  width: number;
  height: number;
  data: ArrayLike<number>;
}

export type ImageSource =
  | string
  | ImageDataLike
  | HTMLImageElement
  | HTMLCanvasElement
  | ImageBitmap
  | ImageData
  | OffscreenCanvas;

export interface ImageArrayOptions {
  /** Output width (default: the source's width). */
  dstW?: number;
  /** Output height (default: the source's height). */
  dstH?: number;
  color?: ColorOrder;
  order?: DataOrder;
  /** Subtracted from each pixel value (0..255); a number or one value per output channel. */
  bias?: number | number[];
  /** Divides each pixel value after the bias; a number or one value per output channel. */
  scale?: number | number[];
}

type Canvas2D = CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D;

function canvasAvailable(): boolean {
  return typeof document !== 'undefined' || typeof OffscreenCanvas !== 'undefined';
}

function makeCanvas(w: number, h: number): { ctx: Canvas2D; canvas: HTMLCanvasElement | OffscreenCanvas } {
  let canvas: HTMLCanvasElement | OffscreenCanvas;
  if (typeof document !== 'undefined') {
    canvas = document.createElement('canvas');
    canvas.width = w;
    canvas.height = h;
  } else {
    canvas = new OffscreenCanvas(w, h);
  }
  const ctx = canvas.getContext('2d') as Canvas2D | null;
  if (!ctx) throw new Error('getImageArray: cannot create a 2d canvas context');
  return { ctx, canvas };
}

function isImageDataLike(s: unknown): s is ImageDataLike {
  if (!s || typeof s !== 'object') return false;
  const o = s as ImageDataLike;
  return typeof o.width === 'number' && typeof o.height === 'number' && !!o.data && typeof o.data.length === 'number';
}

async function loadImage(url: string): Promise<HTMLImageElement | ImageBitmap> {
  if (typeof document !== 'undefined' && typeof Image !== 'undefined') {
    const img = new Image();
    img.crossOrigin = 'anonymous';
    await new Promise<void>((resolve, reject) => {
      img.onload = () => resolve();
      img.onerror = () => reject(new Error(`getImageArray: cannot load image '${url}'`));
      img.src = url;
    });
    return img;
  }
  // workers: no <img>, but fetch + createImageBitmap
  const res = await fetch(url);
  if (!res.ok) throw new Error(`getImageArray: cannot load image '${url}': HTTP ${res.status}`);
  return createImageBitmap(await res.blob());
}

function sourceSize(s: Exclude<ImageSource, string>): [number, number] {
  if (typeof HTMLImageElement !== 'undefined' && s instanceof HTMLImageElement) return [s.naturalWidth || s.width, s.naturalHeight || s.height];
  return [(s as { width: number }).width, (s as { height: number }).height];
}

/** Nearest-neighbour resize of RGBA pixels (used where no canvas exists, e.g. Node). */
function resizeNearest(src: ImageDataLike, w: number, h: number): ImageDataLike {
  if (src.width === w && src.height === h) return src;
  const out = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; y++) {
    const sy = Math.min(src.height - 1, Math.floor(((y + 0.5) * src.height) / h));
    for (let x = 0; x < w; x++) {
      const sx = Math.min(src.width - 1, Math.floor(((x + 0.5) * src.width) / w));
      const si = (sy * src.width + sx) * 4;
      const di = (y * w + x) * 4;
      out[di] = src.data[si];
      out[di + 1] = src.data[si + 1];
      out[di + 2] = src.data[si + 2];
      out[di + 3] = src.data[si + 3];
    }
  }
  return { width: w, height: h, data: out };
}

async function rgbaOf(source: ImageSource, dstW?: number, dstH?: number): Promise<ImageDataLike> {
  if (typeof source === 'string') {
    if (!canvasAvailable()) {
      throw new Error('getImageArray: loading an image from a URL needs a browser (no canvas here); pass an ImageData-like {width, height, data} instead');
    }
    source = await loadImage(source);
  }
  const isRealImageData = typeof ImageData !== 'undefined' && source instanceof ImageData;
  if (isImageDataLike(source) && (!isRealImageData || !canvasAvailable())) {
    if (source.data.length !== source.width * source.height * 4) {
      throw new Error(`getImageArray: image data of ${source.width}x${source.height} needs ${source.width * source.height * 4} RGBA bytes, got ${source.data.length}`);
    }
    return resizeNearest(source, dstW ?? source.width, dstH ?? source.height);
  }
  if (!canvasAvailable()) {
    throw new Error('getImageArray: without a DOM (e.g. in Node) the source must be an ImageData-like {width, height, data: RGBA bytes}');
  }
  if (typeof HTMLImageElement !== 'undefined' && source instanceof HTMLImageElement && !source.complete) {
    const img = source;
    await new Promise<void>((resolve, reject) => {
      img.addEventListener('load', () => resolve(), { once: true });
      img.addEventListener('error', () => reject(new Error('getImageArray: the image failed to load')), { once: true });
    });
  }
  const [sw, sh] = sourceSize(source as Exclude<ImageSource, string>);
  const w = dstW ?? sw;
  const h = dstH ?? sh;
  const { ctx } = makeCanvas(w, h);
  if (isRealImageData) {
    const data = source as ImageData;
    if (w === data.width && h === data.height) return data;
    const tmp = makeCanvas(data.width, data.height);
    tmp.ctx.putImageData(data, 0, 0);
    ctx.drawImage(tmp.canvas, 0, 0, data.width, data.height, 0, 0, w, h);
  } else {
    ctx.drawImage(source as CanvasImageSource, 0, 0, sw, sh, 0, 0, w, h);
  }
  return ctx.getImageData(0, 0, w, h);
}

function perChannel(v: number | number[] | undefined, fallback: number, channels: number, what: string,
  fn = 'getImageArray'): number[] {
  if (v === undefined) return new Array<number>(channels).fill(fallback);
  if (typeof v === 'number') return new Array<number>(channels).fill(v);
  if (!Array.isArray(v) || (v.length !== channels && v.length !== 1)) {
    throw new Error(`${fn}: '${what}' must be a number or ${channels} number(s), got ${JSON.stringify(v)}`);
  }
  return v.length === 1 ? new Array<number>(channels).fill(v[0]) : v.slice();
}

/**
 * Reads an image (browser: <img>, <canvas>, ImageBitmap, ImageData or an image URL; Node: an
 * ImageData-like object) resized to dstW×dstH, as Float32Array in the requested channel order and
 * layout, each value (pixel - bias) / scale. GREY is the BT.601 luma 0.299 R + 0.587 G + 0.114 B.
 */
export async function getImageArray(source: ImageSource, options: ImageArrayOptions = {}): Promise<Float32Array> {
  const color = options.color ?? 'RGB';
  const order = options.order ?? 'HWC';
  if (color !== 'RGB' && color !== 'BGR' && color !== 'GREY') throw new Error(`getImageArray: unknown color '${String(color)}' (RGB, BGR, GREY)`);
  if (order !== 'HWC' && order !== 'CHW') throw new Error(`getImageArray: unknown order '${String(order)}' (HWC, CHW)`);
  for (const [k, v] of [['dstW', options.dstW], ['dstH', options.dstH]] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v <= 0)) throw new Error(`getImageArray: ${k} must be a positive integer, got ${v}`);
  }
  const img = await rgbaOf(source, options.dstW, options.dstH);
  const C = color === 'GREY' ? 1 : 3;
  const bias = perChannel(options.bias, 0, C, 'bias');
  const scale = perChannel(options.scale, 1, C, 'scale');
  const { width: w, height: h, data } = img;
  const out = new Float32Array(w * h * C);
  const chan = color === 'BGR' ? [2, 1, 0] : [0, 1, 2];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = y * w + x;
      const s = p * 4;
      for (let c = 0; c < C; c++) {
        const v = C === 1 ? 0.299 * data[s] + 0.587 * data[s + 1] + 0.114 * data[s + 2] : data[s + chan[c]];
        out[order === 'HWC' ? p * C + c : c * w * h + p] = (v - bias[c]) / scale[c];
      }
    }
  }
  return out;
}

/** Where an image array came from: its layout and channels, and the bias/scale to undo. */
export interface ImageArrayLayout {
  color?: ColorOrder;
  order?: DataOrder;
  /** Added back to each value after the scale (as getImageArray subtracted it). */
  bias?: number | number[];
  /** Multiplies each value first (as getImageArray divided by it). */
  scale?: number | number[];
}

/**
 * The inverse of getImageArray: a width×height image array (values 0..255 after `value * scale +
 * bias`, clamped and rounded) as RGBA pixels, an ImageData-like {width, height, data} that works in
 * Node too (and an ImageData in a browser).
 */
export function toImageData(array: ArrayLike<number>, width: number, height: number, layout: ImageArrayLayout = {}): ImageDataLike {
  const color = layout.color ?? 'RGB';
  const order = layout.order ?? 'HWC';
  if (color !== 'RGB' && color !== 'BGR' && color !== 'GREY') throw new Error(`toImageData: unknown color '${String(color)}' (RGB, BGR, GREY)`);
  if (order !== 'HWC' && order !== 'CHW') throw new Error(`toImageData: unknown order '${String(order)}' (HWC, CHW)`);
  const C = color === 'GREY' ? 1 : 3;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new Error(`toImageData: width and height must be positive integers, got ${width}×${height}`);
  }
  if (array.length !== width * height * C) {
    throw new Error(`toImageData: ${array.length} values for a ${width}×${height} ${color} image (${width * height * C} expected)`);
  }
  const bias = perChannel(layout.bias, 0, C, 'bias', 'toImageData');
  const scale = perChannel(layout.scale, 1, C, 'scale', 'toImageData');
  const data = new Uint8ClampedArray(width * height * 4);  // clamps and rounds
  const chan = color === 'BGR' ? [2, 1, 0] : [0, 1, 2];
  const n = width * height;
  for (let p = 0; p < n; p++) {
    for (let c = 0; c < C; c++) {
      const v = array[order === 'HWC' ? p * C + c : c * n + p] * scale[c] + bias[c];
      if (C === 1) data[p * 4] = data[p * 4 + 1] = data[p * 4 + 2] = v;
      else data[p * 4 + chan[c]] = v;
    }
    data[p * 4 + 3] = 255;
  }
  if (typeof ImageData !== 'undefined') return new ImageData(data, width, height);
  return { width, height, data };
}

/** Draws an image array (see toImageData) into a canvas, resizing the canvas to width×height. */
export function setImageArrayToCanvas(array: ArrayLike<number>, width: number, height: number,
  canvas: HTMLCanvasElement | OffscreenCanvas, layout: ImageArrayLayout = {}): void {
  const image = toImageData(array, width, height, layout);
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d') as Canvas2D | null;
  if (!ctx) throw new Error('setImageArrayToCanvas: cannot get a 2d context of the canvas');
  ctx.putImageData(image as ImageData, 0, 0);
}
