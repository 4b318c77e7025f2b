import { strict as assert } from 'node:assert';
import { containerProcess, mergeEnv, parseVolumes } from './container-args.js';

describe('run/container-args', () => {
  const config = { Entrypoint: ['/entry'], Cmd: ['default'], Env: ['PATH=/bin', 'A=1'], WorkingDir: '/app', User: 'app' };

  it('combines Entrypoint and Cmd like docker run', () => {
    assert.deepEqual(containerProcess(config, {}).args, ['/entry', 'default']);
    assert.deepEqual(containerProcess(config, { cmd: ['x', 'y'] }).args, ['/entry', 'x', 'y']);
    assert.deepEqual(containerProcess(config, { entrypoint: 'sh' }).args, ['sh']);
    assert.deepEqual(containerProcess(config, { entrypoint: 'sh', cmd: ['-c', 'id'] }).args, ['sh', '-c', 'id']);
    assert.deepEqual(containerProcess(config, { entrypoint: '', cmd: ['ls'] }).args, ['ls']);
    assert.deepEqual(containerProcess({ Cmd: ['sh'] }, {}).args, ['sh']);
    assert.throws(() => containerProcess({}, {}), /no command specified/);
    assert.throws(() => containerProcess(config, { entrypoint: '' }), /no command specified/);
  });

  it('merges -e over the image Env, -e K from the host env', () => {
    const env = containerProcess(config, { env: ['A=2', 'B=3', 'FROM_HOST', 'UNSET_ON_HOST'] }, ['HOSTNAME=h'], { FROM_HOST: 'yes' }).env;
    assert.deepEqual(env, ['HOSTNAME=h', 'PATH=/bin', 'A=2', 'B=3', 'FROM_HOST=yes']);
    assert.deepEqual(mergeEnv(['A=1', 'B=2'], ['B=3', 'A=0', 'C=']), ['A=0', 'B=3', 'C=']);
    // A bare name unsets (docker's ReplaceOrAppendEnvValues), whether or not the base has it.
    assert.deepEqual(mergeEnv(['A=1', 'B=2'], ['A', 'NOTSET', 'C=3']), ['B=2', 'C=3']);
  });

  it('takes -w and -u over WorkingDir and User; rejects a relative workdir', () => {
    assert.deepEqual(containerProcess(config, {}).cwd, '/app');
    assert.deepEqual(containerProcess(config, { workdir: '/tmp', user: '0' }), { ...containerProcess(config, {}), cwd: '/tmp', user: '0' });
    assert.equal(containerProcess({ Cmd: ['sh'] }, {}).cwd, '/');
    assert.throws(() => containerProcess(config, { workdir: 'rel' }), /needs to be an absolute path/);
  });

  it('parses -v and rejects relative, missing or malformed specs', async () => {
    assert.deepEqual(await parseVolumes(['/tmp:/data', '/tmp:/ro:ro']), [
      { type: 'bind', source: '/tmp', target: '/data', readonly: false },
      { type: 'bind', source: '/tmp', target: '/ro', readonly: true },
    ]);
    await assert.rejects(parseVolumes(['data:/data']), /not an absolute path/);
    await assert.rejects(parseVolumes(['/no/such/dir-h4:/data']), /host path "\/no\/such\/dir-h4" does not exist/);
    await assert.rejects(parseVolumes(['/tmp:rel']), /must be absolute/);
    await assert.rejects(parseVolumes(['/tmp:/x:zz']), /invalid mode "zz"/);
    await assert.rejects(parseVolumes(['/tmp']), /invalid volume specification/);
  });
});
