export { Approvals, type ApprovalEvent, type ApprovalsDeps, type HoldOptions, type HoldOutcome, type HoldRequest } from './service.ts';
export { canonicalJson, fingerprint, numbersSurviveParsing, type FingerprintInput } from './fingerprint.ts';
export { REAL_TIMERS, type Timers } from './timers.ts';
export type { ApprovalView, ApprovalVoteView } from './view.ts';
