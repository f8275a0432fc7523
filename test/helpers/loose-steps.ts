// Steps for tests of what reads only a step's id, kind, cluster and undo (the runner, hooks,
// notifications): loose on purpose, not each kind's whole shape.
import type { Step } from '../../src/model/plan.js';

/** A step carrying every field any kind has. */
export const anyFieldsStep = (id: string, kind: Step['kind'], undo: Step[] = []): Step =>
  ({
    id,
    kind,
    title: id,
    cluster: 'a',
    members: ['m1'],
    readyMembers: [],
    hosts: ['h1'],
    releases: { h1: 'r' },
    undo,
    // Every field on every kind: the runner reads only id, kind and undo.
  }) as unknown as Step;

/** A step of one cluster (or of none). */
export const clusterStep = (id: string, kind: Step['kind'], cluster?: 'a' | 'b', undo: Step[] = []): Step =>
  ({
    id,
    kind,
    title: id,
    ...(cluster ? { cluster, members: [`m${cluster}`], hosts: [`h${cluster}`] } : {}),
    undo,
  }) as Step;

/** A push of two clusters: lock, each cluster drained, smoke-checked and returned, unlock. */
export const TWO_CLUSTER_STEPS: Step[] = [
  clusterStep('lock', 'lock', undefined, [clusterStep('undo-lock', 'unlock')]),
  clusterStep('drain-a', 'drain', 'a', [clusterStep('undo-drain-a', 'ready', 'a')]),
  clusterStep('smoke-a', 'smoke', 'a'),
  clusterStep('ready-a', 'ready', 'a', [clusterStep('undo-ready-a', 'drain', 'a')]),
  clusterStep('drain-b', 'drain', 'b', [clusterStep('undo-drain-b', 'ready', 'b')]),
  clusterStep('smoke-b', 'smoke', 'b'),
  clusterStep('ready-b', 'ready', 'b'),
  clusterStep('unlock', 'unlock'),
];
