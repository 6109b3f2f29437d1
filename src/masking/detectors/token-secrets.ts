import type { Detector } from '../types.ts';
import { characterClasses, countDigits } from '../validators.ts';
import { PRIORITY } from './priority.ts';
import { regexDetector } from './regex-detector.ts';

/**
 * Credentials recognisable by a vendor prefix. Each pattern starts with its literal prefix
 * (so V8 skips ahead cheaply) and refuses to start or end inside a longer word.
 */

export const awsAccessKeyDetector: Detector = regexDetector({
  type: 'aws_access_key',
  signalled: true,
  priority: PRIORITY.token,
  patterns: [/(?<![A-Za-z0-9])A[KS]IA[A-Z0-9]{16}(?![A-Za-z0-9])/g],
});

export const githubTokenDetector: Detector = regexDetector({
  type: 'github_token',
  signalled: true,
  priority: PRIORITY.token,
  // One pattern for both forms: each full scan of the text costs more than the alternation.
  patterns: [/(?<![A-Za-z0-9_])g(?:h[pousr]_[A-Za-z0-9]{36,251}|ithub_pat_[A-Za-z0-9_]{40,244})(?![A-Za-z0-9_])/g],
  openPrefix: 'gh[pousr]_|github_pat_',
});

export const gitlabTokenDetector: Detector = regexDetector({
  type: 'gitlab_token',
  signalled: true,
  priority: PRIORITY.token,
  patterns: [/(?<![\w-])glpat-[A-Za-z0-9_.-]{20,120}(?![\w-])/g],
  openPrefix: 'glpat-',
});

export const slackTokenDetector: Detector = regexDetector({
  type: 'slack_token',
  signalled: true,
  priority: PRIORITY.token,
  patterns: [/(?<![\w-])xox[baprs]-[A-Za-z0-9-]{10,250}(?![\w-])/g],
  // Real tokens carry numeric workspace and user ids; `xoxb-your-token-here` does not.
  accept: (m) => countDigits(m[0]) >= 6,
  openPrefix: 'xox[baprs]-',
});

export const slackWebhookDetector: Detector = regexDetector({
  type: 'slack_webhook',
  signalled: true,
  priority: PRIORITY.slack_webhook,
  patterns: [/https:\/\/hooks\.slack\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9_\/-]{20,200}/g],
  openPrefix: 'https:\\/\\/hooks\\.slack\\.com\\/',
});

export const stripeKeyDetector: Detector = regexDetector({
  type: 'stripe_key',
  signalled: true,
  priority: PRIORITY.token,
  patterns: [/(?<![\w-])[rs]k_(?:live|test)_[A-Za-z0-9]{16,247}(?![\w-])/g],
  openPrefix: '[rs]k_(?:live|test)_',
});

export const anthropicKeyDetector: Detector = regexDetector({
  type: 'anthropic_key',
  signalled: true,
  priority: PRIORITY.token,
  patterns: [/(?<![\w-])sk-ant-[a-z]{2,8}\d{2}-[A-Za-z0-9_-]{32,300}(?![\w-])/g],
  openPrefix: 'sk-ant-',
});

export const openaiKeyDetector: Detector = regexDetector({
  type: 'openai_key',
  signalled: true,
  priority: PRIORITY.token,
  patterns: [/(?<![\w-])sk-(?!ant-)(?:(?:proj|svcacct|admin)-)?[A-Za-z0-9_-]{20,300}(?![\w-])/g],
  // Random keys mix cases and digits; `sk-this-is-not-a-key-just-words` does not.
  accept: (m) => characterClasses(m[0].slice(3)) >= 3,
  openPrefix: 'sk-',
});

export const googleApiKeyDetector: Detector = regexDetector({
  type: 'google_api_key',
  signalled: true,
  priority: PRIORITY.token,
  patterns: [/(?<![\w-])AIza[0-9A-Za-z_-]{35}(?![\w-])/g],
});

export const gatehouseTokenDetector: Detector = regexDetector({
  type: 'gatehouse_token',
  signalled: true,
  priority: PRIORITY.token,
  patterns: [/(?<![A-Za-z0-9_])gt[hs]_[A-Za-z0-9]{32,}(?![A-Za-z0-9])/g],
  openPrefix: 'gt[hs]_',
});
