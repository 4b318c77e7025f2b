/**
 * Loaded by mocha before any test (see .mocharc.json "require"). Tests and every builder process they
 * start may talk to registries on loopback only: a FROM of an image missing from a test store must fail
 * fast instead of reaching for docker.io, and no test sends traffic off this machine.
 */
process.env.BUILDER_LOOPBACK_ONLY = '1';
