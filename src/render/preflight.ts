// `baton preflight` for people: one line a finding, refusals first, then what went unchecked,
// then what passed, so the reason a run was refused is what a tired reader sees first.
import { refusals, type Finding, type PreflightReport } from '../checks/preflight.js';

const ORDER: Record<Finding['outcome'], number> = { refused: 0, unchecked: 1, ok: 2 };
const LABEL: Record<Finding['outcome'], string> = { refused: 'REFUSED', unchecked: 'unchecked', ok: 'ok' };

/** The findings and the verdict (a plan shows both). */
export function renderPreflight(report: PreflightReport): string[] {
  const refused = refusals(report).length;
  return [
    ...renderFindings(report),
    refused === 0 ? 'preflight passed' : `preflight refused: ${refused} finding${refused === 1 ? '' : 's'} above`,
  ];
}

/** The findings alone, one line each: `baton preflight` leaves a refusal's verdict to its error, said once. */
export function renderFindings(report: PreflightReport): string[] {
  const sorted = [...report.findings].sort((x, y) => ORDER[x.outcome] - ORDER[y.outcome]);
  return sorted.map((f) => `${LABEL[f.outcome].padEnd(9)}  ${f.check.padEnd(15)}  ${f.message}`);
}
