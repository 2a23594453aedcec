import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The golden cases, computed by the paper's code (testdata/golden/README.md). */
export const GOLDEN_DIR = `${REPO_ROOT}testdata/golden`;
