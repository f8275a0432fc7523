// The fault suite's recovery matrix, against the real lab under load: a push SIGKILLed at every
// step boundary, then resumed — and, in a separate run, rolled back. Each ends with the pool
// serving exactly one release, consistently, and the client sees no failed request.
// (`npm test` runs three of these boundaries, in test/integration/recovery.test.ts.)
import { describeKilledPushes, EVERY_STEP_BOUNDARY, recoveryLab } from './helpers/killed-pushes.js';

const lab = recoveryLab('baton-killed-');
describeKilledPushes(lab.config, lab.baton, EVERY_STEP_BOUNDARY);
