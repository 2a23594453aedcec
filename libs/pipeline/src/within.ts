/**
 * True when `work` settled (either way) within `ms`; past that it is left to settle on its own.
 * Closing a connection whose server is gone may reject: that connection is closed too, so a
 * rejection counts as settled and goes to `onError`.
 */
export async function within(
  work: Promise<unknown>,
  ms: number,
  onError?: (err: Error) => void,
): Promise<boolean> {
  if (ms === Infinity) {
    await work.catch((err: Error) => onError?.(err));
    return true;
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const settled = work.then(
    () => true,
    (err: Error) => {
      onError?.(err);
      return true;
    },
  );
  try {
    return await Promise.race([settled, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
