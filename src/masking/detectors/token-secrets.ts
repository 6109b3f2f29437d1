import type { Detector } from '../types.ts';
import { characterClasses, countDigits } from '../validators.ts';
import { anchoredDetector } from './anchored-detector.ts';
import { PRIORITY } from './priority.ts';
import { regexDetector } from './regex-detector.ts';

/**
 * Credentials recognisable by a vendor prefix. None may start or end inside a longer word.
 * Most are found from the `_` or `-` in their prefix (see anchoredDetector), which is far
 * cheaper than running one regex per vendor over the whole text.
 */

export const awsAccessKeyDetector: Detector = regexDetector({
  type: 'aws_access_key',
  signalled: true,
  priority: PRIORITY.token,
  patterns: [/(?<![A-Za-z0-9])A[KS]IA[A-Z0-9]{16}(?![A-Za-z0-9])/g],
});

export const githubTokenDetector: Detector = anchoredDetector({
  type: 'github_token',
  priority: PRIORITY.token,
  anchor: '_',
  prefixes: ['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_', 'github_pat_'],
  pattern: /(?<![A-Za-z0-9_])g(?:h[pousr]_[A-Za-z0-9]{36,251}|ithub_pat_[A-Za-z0-9_]{40,244})(?![A-Za-z0-9_])/y,
  openPrefix: 'gh[pousr]_|github_pat_',
});

export const gitlabTokenDetector: Detector = anchoredDetector({
  type: 'gitlab_token',
  priority: PRIORITY.token,
  anchor: '-',
  prefixes: ['glpat-'],
  pattern: /(?<![\w-])glpat-[A-Za-z0-9_.-]{20,120}(?![\w-])/y,
  openPrefix: 'glpat-',
});

export const slackTokenDetector: Detector = anchoredDetector({
  type: 'slack_token',
  priority: PRIORITY.token,
  anchor: '-',
  prefixes: ['xoxb-', 'xoxa-', 'xoxp-', 'xoxr-', 'xoxs-'],
  pattern: /(?<![\w-])xox[baprs]-[A-Za-z0-9-]{10,250}(?![\w-])/y,
  // Real tokens carry numeric workspace and user ids; `xoxb-your-token-here` does not.
  accept: (v) => countDigits(v) >= 6,
  openPrefix: 'xox[baprs]-',
});

export const slackWebhookDetector: Detector = anchoredDetector({
  type: 'slack_webhook',
  priority: PRIORITY.slack_webhook,
  anchor: '.',
  prefixes: ['https://hooks.slack.com/'],
  pattern: /https:\/\/hooks\.slack\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9_\/-]{20,200}/y,
  openPrefix: 'https:\\/\\/hooks\\.slack\\.com\\/',
});

export const stripeKeyDetector: Detector = anchoredDetector({
  type: 'stripe_key',
  priority: PRIORITY.token,
  anchor: '_',
  prefixes: ['sk_live_', 'sk_test_', 'rk_live_', 'rk_test_'],
  pattern: /(?<![\w-])[rs]k_(?:live|test)_[A-Za-z0-9]{16,247}(?![\w-])/y,
  openPrefix: '[rs]k_(?:live|test)_',
});

export const anthropicKeyDetector: Detector = anchoredDetector({
  type: 'anthropic_key',
  priority: PRIORITY.token,
  anchor: '-',
  prefixes: ['sk-ant-'],
  pattern: /(?<![\w-])sk-ant-[a-z]{2,8}\d{2}-[A-Za-z0-9_-]{32,300}(?![\w-])/y,
  openPrefix: 'sk-ant-',
});

export const openaiKeyDetector: Detector = anchoredDetector({
  type: 'openai_key',
  priority: PRIORITY.token,
  anchor: '-',
  prefixes: ['sk-'],
  pattern: /(?<![\w-])sk-(?!ant-)(?:(?:proj|svcacct|admin)-)?[A-Za-z0-9_-]{20,300}(?![\w-])/y,
  // Random keys mix cases and digits; `sk-this-is-not-a-key-just-words` does not.
  accept: (v) => characterClasses(v.slice(3)) >= 3,
  openPrefix: 'sk-',
});

export const googleApiKeyDetector: Detector = anchoredDetector({
  type: 'google_api_key',
  priority: PRIORITY.token,
  // `z` is rare in text; `A` and `I` are not.
  anchor: 'z',
  prefixes: ['AIza'],
  pattern: /(?<![\w-])AIza[0-9A-Za-z_-]{35}(?![\w-])/y,
});

export const gatehouseTokenDetector: Detector = anchoredDetector({
  type: 'gatehouse_token',
  priority: PRIORITY.token,
  anchor: '_',
  prefixes: ['gth_', 'gts_'],
  pattern: /(?<![A-Za-z0-9_])gt[hs]_[A-Za-z0-9]{32,}(?![A-Za-z0-9])/y,
  openPrefix: 'gt[hs]_',
});
