/** Our own runc state dir, so `runc list` of other tools never sees (or touches) our containers. */
export const RUNC_ROOT = '/run/builder-runc';
