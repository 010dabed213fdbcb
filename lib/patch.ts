/**
 * Patch geometry shared by the labeller, the reward models, the generator's
 * loss maps and the plots.
 * @module
 */

/**
 * A spatio-temporal patch grid: each frame is cut into `rows × cols` cells and
 * time into segments of `framesPerPatch` frames. A patch is one cell over one
 * segment (a "tube"). Reconstruction: the paper does not publish its patch
 * geometry; every consumer takes the grid as a parameter.
 */
export interface PatchGrid {
  /** Cells along the frame height. */
  readonly rows: number;
  /** Cells along the frame width. */
  readonly cols: number;
  /** Frames per temporal segment. */
  readonly framesPerPatch: number;
}
