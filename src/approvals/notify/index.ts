import type { ApprovalNotifyConfig } from '../../config/approval-notify.ts';
import { eventId, webhookBody } from './payload.ts';
import { Receiver, type ReceiverDeps } from './receiver.ts';
import { slackMessage } from './slack-message.ts';
import type { ApprovalNotifier, NotifierDeps, NotifyEvent, NotifyTimers } from './types.ts';

export type { ApprovalNotifier, FetchLike, NotifierDeps, NotifyApproval, NotifyEvent, NotifyEventType, NotifyTimers } from './types.ts';
export { escapeMrkdwn, slackMessage } from './slack-message.ts';
export { eventId, signature, webhookBody } from './payload.ts';

const REAL_TIMERS: NotifyTimers = {
  after(ms, fn) {
    const timer = setTimeout(fn, Math.max(0, Math.min(ms, 2_147_483_647)));
    // A pending retry never keeps the process alive on its own.
    timer.unref();
    return () => clearTimeout(timer);
  },
};

const DEFAULTS = { timeout: 10_000, maxAttempts: 5, queueLimit: 1_000 };

/**
 * Tells webhooks and Slack about approvals created and decided. `notify` only queues: delivery
 * happens in the background, with retries, so a slow or broken receiver never holds up a request
 * or a decision. Nothing here logs an address or a secret.
 */
export function createApprovalNotifier(config: Partial<ApprovalNotifyConfig> | undefined, deps: NotifierDeps): ApprovalNotifier {
  const logger = deps.logger;
  const receiverDeps: ReceiverDeps = {
    logger,
    now: deps.now,
    fetch: deps.fetch ?? ((url, init) => fetch(url, init)),
    timers: deps.timers ?? REAL_TIMERS,
    random: deps.random ?? Math.random,
  };
  const common = {
    timeoutMs: config?.timeout ?? DEFAULTS.timeout,
    maxAttempts: config?.maxAttempts ?? DEFAULTS.maxAttempts,
    queueLimit: config?.queueLimit ?? DEFAULTS.queueLimit,
  };
  const webhooks = (config?.webhooks ?? []).map(
    (hook, i) => new Receiver({ ...common, label: `webhooks[${i}]`, url: hook.url, secret: hook.secret }, receiverDeps),
  );
  const slack = (config?.slack ?? []).map((hook, i) => new Receiver({ ...common, label: `slack[${i}]`, url: hook.webhookUrl, secret: null }, receiverDeps));
  let seq = 0;
  let closed = false;

  return {
    notify(event: NotifyEvent): void {
      if (closed || (webhooks.length === 0 && slack.length === 0)) return;
      try {
        const id = eventId(event);
        const base = { eventId: id, approvalId: String(event.approval.id), type: event.type, attempts: 0, ready: true, cancelWait: null };
        if (webhooks.length > 0) {
          const body = webhookBody(event, id);
          for (const receiver of webhooks) receiver.enqueue({ ...base, body, seq: seq++ });
        }
        if (slack.length > 0) {
          const body = JSON.stringify(slackMessage(event));
          for (const receiver of slack) receiver.enqueue({ ...base, body, seq: seq++ });
        }
      } catch (err) {
        // An approval the service could not describe must not fail the request that made it.
        logger.warn({ approvalId: safeId(event), errorType: (err as Error)?.name ?? typeof err }, 'approval notifications: could not build a notification; none sent');
      }
    },

    async close(): Promise<void> {
      closed = true;
      await Promise.all([...webhooks, ...slack].map((receiver) => receiver.close()));
    },
  };
}

function safeId(event: NotifyEvent): string | null {
  try {
    return typeof event?.approval?.id === 'string' ? event.approval.id.slice(0, 128) : null;
  } catch {
    return null;
  }
}
