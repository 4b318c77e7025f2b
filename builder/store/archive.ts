/** Image archives: `builder save` and `builder load` (docker-archive and OCI archive). */
export { saveImages } from './archive-save.js';
export { loadImages } from './archive-load.js';
