/** Lambda entry of the StartRun state. */
import { STATE_NAMES } from '../core/workflow/messages.js';
import { stepHandler } from './runtime.js';

export const handler = stepHandler(STATE_NAMES.startRun);
