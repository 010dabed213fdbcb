/**
 * Video I/O: the {@linkcode Video} value and decoding/encoding through ffmpeg.
 * @module
 */

/**
 * A decoded video: frames as float32 RGB in [0, 1], row-major `[T, H, W, 3]`.
 */
export interface Video {
  /** Pixel data, length `numFrames * height * width * 3`, layout `[T, H, W, 3]`, values in [0, 1]. */
  readonly frames: Float32Array;
  /** Number of frames T. */
  readonly numFrames: number;
  /** Frame height H in pixels. */
  readonly height: number;
  /** Frame width W in pixels. */
  readonly width: number;
  /** Frames per second. */
  readonly fps: number;
  /** Where the video came from: a file path, or a description such as `"shapesworld:seed=3"`. */
  readonly source: string;
}
