import {
  anthropicKeyDetector,
  awsAccessKeyDetector,
  gatehouseTokenDetector,
  githubTokenDetector,
  gitlabTokenDetector,
  googleApiKeyDetector,
  openaiKeyDetector,
  slackTokenDetector,
  slackWebhookDetector,
  stripeKeyDetector,
} from '../../../src/masking/detectors/token-secrets.ts';
import { detectorTable } from './detector-table.ts';

// Realistic shapes, random-looking bodies (none of these is a live credential).
const B62 = 'Zq7Lm2Xp9Rt4Kd8Wn3Hv6Bc1Fs5Gj0Ay';
const ghp = `ghp_${B62}aB3c`; // 4 + 36
const pat = `github_pat_11ABCDEFG0${B62.slice(0, 12)}_${B62}${B62.slice(0, 26)}`;
const openai = `sk-${B62.slice(0, 20)}T3BlbkFJ${B62.slice(0, 20)}`;
const proj = `sk-proj-${B62}_-${B62}${B62}Xy9`;
const anthropic = `sk-ant-api03-${B62}${B62}${B62}-x_AA`;
const slackBot = 'xoxb-2048121234-5012345678901-Zq7Lm2Xp9Rt4Kd8Wn3Hv6Bc1';
const webhook = 'https://hooks.slack.com/services/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';

detectorTable(awsAccessKeyDetector, [
  ['key AKIAIOSFODNN7EXAMPLE leaked', ['AKIAIOSFODNN7EXAMPLE']],
  ['AWS_ACCESS_KEY_ID=ASIAY34FZKBOKMUTVV7A', ['ASIAY34FZKBOKMUTVV7A']],
  ['AKIA is the prefix of long-term keys; AKIAEXAMPLE is too short', []],
  ['XAKIAIOSFODNN7EXAMPLE and AKIAIOSFODNN7EXAMPLEXX are parts of longer words', []],
]);

detectorTable(githubTokenDetector, [
  [`token ${ghp} expired`, [ghp]],
  [`gho_${B62}aB3c, ghs_${B62}aB3c`, [`gho_${B62}aB3c`, `ghs_${B62}aB3c`]],
  [`fine-grained ${pat}`, [pat]],
  ['ghp_xxxxxxxxxxxx is a placeholder; tokens look like gho_...', []],
  [`myghp_${B62}aB3c is inside a word`, []],
]);

detectorTable(gitlabTokenDetector, [
  ['GITLAB_TOKEN=glpat-Zq7Lm2Xp9Rt4Kd8Wn3Hv', ['glpat-Zq7Lm2Xp9Rt4Kd8Wn3Hv']],
  ['glpat-xxxx is the format', []],
]);

detectorTable(slackTokenDetector, [
  [`SLACK_BOT_TOKEN=${slackBot}`, [slackBot]],
  ['xoxp-12345678901-123456789012-1234567890123-0123456789abcdef0123456789abcdef', ['xoxp-12345678901-123456789012-1234567890123-0123456789abcdef0123456789abcdef']],
  ['xoxb-your-token-here and xoxp-<token>', []],
]);

detectorTable(slackWebhookDetector, [
  [`curl -X POST ${webhook} -d @msg.json`, [webhook]],
  ['hooks.slack.com is allow-listed; https://hooks.slack.com/services/ alone is not a hook', []],
]);

detectorTable(stripeKeyDetector, [
  ['sk_live_51H8Zq7Lm2Xp9Rt4Kd8Wn3Hv6Bc1 and rk_live_Zq7Lm2Xp9Rt4Kd8Wn3Hv', ['sk_live_51H8Zq7Lm2Xp9Rt4Kd8Wn3Hv6Bc1', 'rk_live_Zq7Lm2Xp9Rt4Kd8Wn3Hv']],
  ['STRIPE_KEY="sk_test_4eC39HqLyjWDarjtT1zdp7dc"', ['sk_test_4eC39HqLyjWDarjtT1zdp7dc']],
  ['pk_live_51H8Zq7Lm2Xp9Rt4Kd8Wn3Hv6Bc1 is publishable; sk_live_ keys start so', []],
]);

detectorTable(openaiKeyDetector, [
  [`OPENAI_API_KEY=${openai}`, [openai]],
  [`project key ${proj}`, [proj]],
  ['We used sk-learn; a risk-free, task-based plan; sk-this-is-not-a-real-key-just-words', []],
  [`Anthropic keys are not OpenAI keys: ${anthropic}`, []],
]);

detectorTable(anthropicKeyDetector, [
  [`x-api-key: ${anthropic}`, [anthropic]],
  ['sk-ant-api03-short', []],
]);

detectorTable(googleApiKeyDetector, [
  ['key=AIzaSyD-Zq7Lm2Xp9Rt4Kd8Wn3Hv6Bc1Fs5Gj0A&callback=x', ['AIzaSyD-Zq7Lm2Xp9Rt4Kd8Wn3Hv6Bc1Fs5Gj0A']],
  ['AIza... keys are restricted by referrer; AIzaSyShort', []],
]);

detectorTable(gatehouseTokenDetector, [
  [`password=${'gth_'}Zq7Lm2Xp9Rt4Kd8Wn3Hv6Bc1Fs5Gj0Ay`, ['gth_Zq7Lm2Xp9Rt4Kd8Wn3Hv6Bc1Fs5Gj0Ay']],
  ['Authorization: Bearer gts_Zq7Lm2Xp9Rt4Kd8Wn3Hv6Bc1Fs5Gj0AyZq7', ['gts_Zq7Lm2Xp9Rt4Kd8Wn3Hv6Bc1Fs5Gj0AyZq7']],
  ['gth_abc is too short; gts_PLACEHOLDER too', []],
]);
