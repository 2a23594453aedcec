/** A tf.Tensor, as far as the pipeline needs one (no TensorFlow.js import here). */
export interface TensorLike {
  shape: number[];
  dtype: string;
  data(): Promise<ArrayLike<number>>;
}

export function isTensorLike(x: unknown): x is TensorLike {
  return (
    typeof x === 'object' &&
    x !== null &&
    Array.isArray((x as TensorLike).shape) &&
    typeof (x as TensorLike).data === 'function'
  );
}

/** A batch as Float32Array plus shape, from a Float32Array (shape given) or a float32 tf.Tensor. */
export async function toFloat32Batch(
  batch: Float32Array | TensorLike,
  shape?: readonly number[],
): Promise<{ data: Float32Array; shape: number[] }> {
  if (isTensorLike(batch)) {
    if (batch.dtype !== 'float32') throw new Error(`tensor dtype must be float32, got ${batch.dtype}`);
    const data = await batch.data();
    return { data: data instanceof Float32Array ? data : Float32Array.from(data), shape: [...batch.shape] };
  }
  if (!shape) throw new Error('a Float32Array batch needs its NCHW shape');
  return { data: batch, shape: [...shape] };
}
