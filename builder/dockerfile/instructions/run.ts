/** RUN: command kept literal for the shell; only `--mount` options are expanded. */
import { BuildError } from '../../errors.js';
import { checkFlags } from '../flags.js';
import type { ParsedInstruction } from '../parse.js';
import type { RunStep } from '../types.js';
import { parseJsonArray } from '../words.js';
import { stepBase, type InstructionContext } from './context.js';
import { parseMount } from './mount.js';

const NETWORKS = ['none', 'host', 'default'] as const;
type Network = (typeof NETWORKS)[number];

export function run(instruction: ParsedInstruction, context: InstructionContext): RunStep {
  const flags = checkFlags(instruction.flags, { mount: 'strings', network: 'string', security: 'string' });
  const mounts = (flags.get('mount') ?? []).map((raw) => parseMount(raw, context));
  const networkValue = flags.get('network')?.[0];
  if (networkValue !== undefined && !(NETWORKS as readonly string[]).includes(networkValue)) {
    throw new BuildError('DOCKERFILE_INVALID', `unsupported network mode "${networkValue}" (use none, host or default)`);
  }
  // BuildKit's runSecurityPostHook: sandbox (the default, what every step already gets) or insecure, which needs the
  // security.insecure entitlement; this builder grants none, so it is refused before anything runs.
  const security = flags.get('security')?.[0];
  if (security !== undefined && security !== 'sandbox' && security !== 'insecure') {
    throw new BuildError('DOCKERFILE_INVALID', `security ${JSON.stringify(security)} is not valid`);
  }
  if (security === 'insecure') {
    throw new BuildError('DOCKERFILE_INVALID', 'RUN --security=insecure: entitlement security.insecure is not allowed (this builder runs every step in its sandbox)');
  }
  // Only when the stage has ARGs, so a step without them stays as it was (and keeps its cache key).
  const historyArgs = context.historyArgs?.() ?? [];
  const json = instruction.heredocs.length === 0 ? parseJsonArray(instruction.rest) : undefined;
  // No arguments runs `/bin/sh -c ""`, as in BuildKit (its parser accepts a bare RUN).
  return {
    op: 'RUN',
    ...stepBase(instruction),
    form: json ? 'exec' : 'shell',
    args: json ?? [instruction.rest],
    heredocs: instruction.heredocs,
    mounts,
    ...(networkValue !== undefined ? { network: networkValue as Network } : {}),
    buildArgs: context.buildArgs(),
    ...(historyArgs.length > 0 ? { historyArgs } : {}),
    ...(context.sandboxHostname ? { hostname: context.sandboxHostname } : {}),
  };
}
