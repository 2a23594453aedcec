// Stands in for @napi-rs/canvas in the GPU check's bundle, which leaves out the preview pictures.
const missing = () => {
  throw new Error('the GPU check bundle has no @napi-rs/canvas: previews need a full checkout (npm ci)');
};
export const createCanvas = missing;
export const loadImage = missing;
export const GlobalFonts = { registerFromPath: missing };
