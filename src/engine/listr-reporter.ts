// The live task list on a TTY: one listr2 task per step, the drain's session count as its output.
// The executor stays in charge; each task just waits for the executor to say how its step ended.
// Beside the steps, a last task whose title is the traffic per cluster, redrawn at most 4 times a second.
import { Listr, type ListrTaskWrapper } from 'listr2';
import { writeErr } from '../output.js';
import { forTerminal } from '../control-characters.js';
import type { AnyStep } from '../model/steps.js';
import type { Phase, Reporter } from './reporter.js';
import { latestEvery, trafficLine } from './traffic-line.js';
import type { TrafficSample } from './traffic.js';

type Ending = { kind: 'ok' } | { kind: 'fail'; error: Error } | { kind: 'skip' };

interface Slot {
  resolve(e: Ending): void;
  ended: boolean;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  task?: ListrTaskWrapper<any, any, any>;
}

export interface ListrReporterOptions {
  /**
   * Whether listr2 draws in place (it does when stdout is a terminal). Without it listr2 prints
   * each change as a line, and a traffic line a few times a second would flood the output: left out.
   */
  live?: boolean;
}

export class ListrReporter implements Reporter {
  private slots = new Map<string, Slot>();
  private lists: Promise<unknown>[] = [];
  private readonly live: boolean;
  // The line the traffic task of the list on screen shows; '' until a sample arrives.
  private trafficTitle = '';
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private trafficTask?: ListrTaskWrapper<any, any, any>;
  private readonly redraw = latestEvery<string>(250, (line) => {
    this.trafficTitle = line;
    if (this.trafficTask) this.trafficTask.title = line;
  });

  constructor(forward: readonly AnyStep[], options: ListrReporterOptions = {}) {
    this.live = options.live ?? process.stdout.isTTY === true;
    this.start(forward, 'forward', 'push');
  }

  private key(step: AnyStep, phase: Phase): string {
    return `${phase}:${step.id}`;
  }

  private start(steps: readonly AnyStep[], phase: Phase, heading: string): void {
    const endings: Promise<Ending>[] = [];
    const tasks = steps.map((step) => {
      let resolve!: (e: Ending) => void;
      const ending = new Promise<Ending>((r) => (resolve = r));
      endings.push(ending);
      const slot: Slot = { resolve: (e) => ((slot.ended = true), resolve(e)), ended: false };
      this.slots.set(this.key(step, phase), slot);
      return {
        // Titles, progress and errors carry data (tags, host names, a host's answers): no control characters on the
        // terminal.
        title: forTerminal(step.title),
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        task: async (_ctx: unknown, task: ListrTaskWrapper<any, any, any>) => {
          slot.task = task;
          const e = await ending;
          if (e.kind === 'skip') task.skip(forTerminal(`${step.title} (not reached)`));
          if (e.kind === 'fail') throw Object.assign(new Error(forTerminal(e.error.message)), { cause: e.error });
        },
      };
    });
    const stepsTask = {
      title: forTerminal(heading),
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      task: (_ctx: unknown, task: ListrTaskWrapper<any, any, any>) => task.newListr(tasks, { exitOnError: false }),
    };
    const trafficTask = {
      // Untitled, listr2 draws nothing: a run without samples (a DNS step, no sampler) shows no traffic line.
      title: this.trafficTitle || undefined,
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      task: async (_ctx: unknown, task: ListrTaskWrapper<any, any, any>) => {
        this.trafficTask = task;
        // A sample that came before this task started (a busy machine starts the list late) is shown now.
        if (this.trafficTitle) task.title = this.trafficTitle;
        await Promise.all(endings);
        this.redraw.flush();
      },
    };
    // The traffic task runs beside the steps (concurrent) and ends when the last of them does.
    const list = new Listr(this.live ? [stepsTask, trafficTask] : [stepsTask], {
      concurrent: true,
      exitOnError: false,
      // Stop signals belong to the run (finish the step, reverse); listr2's own handler would exit 127.
      registerSignalListeners: false,
      rendererOptions: { collapseSubtasks: false, showErrorMessage: true },
    } as never);
    // Lists run one after the other so two never draw on the terminal at once.
    const previous = this.lists.at(-1) ?? Promise.resolve();
    this.lists.push(previous.then(() => list.run()).catch(() => undefined));
  }

  stepStarted(): void {}

  stepProgress(step: AnyStep, message: string): void {
    const slot = this.slots.get(this.key(step, 'forward')) ?? this.slots.get(this.key(step, 'reverse'));
    if (slot?.task) slot.task.output = forTerminal(message);
  }

  stepSucceeded(step: AnyStep, phase: Phase): void {
    this.slots.get(this.key(step, phase))?.resolve({ kind: 'ok' });
  }

  stepFailed(step: AnyStep, phase: Phase, _ms: number, error: Error): void {
    this.slots.get(this.key(step, phase))?.resolve({ kind: 'fail', error });
  }

  reversalStarted(reason: string, steps: AnyStep[]): void {
    this.skipRemaining('forward');
    this.start(steps, 'reverse', `reverse: ${reason}`);
  }

  notice(message: string): void {
    // Below the task list, which keeps drawing: the line must not wait for the list to end.
    writeErr(message);
  }

  traffic(sample: TrafficSample): void {
    if (!this.live) return;
    const line = trafficLine(sample);
    if (line) this.redraw.push(forTerminal(line));
  }

  async finish(): Promise<void> {
    this.skipRemaining('forward');
    this.skipRemaining('reverse');
    await Promise.all(this.lists);
  }

  private skipRemaining(phase: Phase): void {
    for (const [key, slot] of this.slots)
      if (key.startsWith(`${phase}:`) && !slot.ended) slot.resolve({ kind: 'skip' });
  }
}
