/**
 * Which live sessions made decisions that read which just-in-time grants, so that a grant revoked
 * or expired ends exactly those sessions. A grant that ended a moment before a decision linked it
 * (the revocation crossed the request) ends the session at once rather than being missed.
 */
export type GrantEnd = 'revoked' | 'expired';

/** Ended grant ids remembered for late links; older ones are past any request still deciding. */
const REMEMBERED_ENDS = 10_000;

export class GrantLinks<S extends object> {
  private readonly byGrant = new Map<string, Set<S>>();
  private readonly bySession = new Map<S, Set<string>>();
  private readonly ended = new Map<string, GrantEnd>();

  /** Links a session to grants its decision read; returns a grant among them that has already ended. */
  link(session: S, grantIds: readonly string[]): { grantId: string; end: GrantEnd } | null {
    for (const grantId of grantIds) {
      const end = this.ended.get(grantId);
      if (end !== undefined) return { grantId, end };
    }
    let own = this.bySession.get(session);
    if (!own) this.bySession.set(session, (own = new Set()));
    for (const grantId of grantIds) {
      own.add(grantId);
      let sessions = this.byGrant.get(grantId);
      if (!sessions) this.byGrant.set(grantId, (sessions = new Set()));
      sessions.add(session);
    }
    return null;
  }

  /** A session closed: it is no longer anyone's to end. */
  unlink(session: S): void {
    for (const grantId of this.bySession.get(session) ?? []) {
      const sessions = this.byGrant.get(grantId);
      sessions?.delete(session);
      if (sessions?.size === 0) this.byGrant.delete(grantId);
    }
    this.bySession.delete(session);
  }

  /** The grants ended: returns each linked session (once) with the grant that ends it, and forgets them. */
  end(grantIds: readonly string[], end: GrantEnd): Array<{ session: S; grantId: string }> {
    const out: Array<{ session: S; grantId: string }> = [];
    const seen = new Set<S>();
    for (const grantId of grantIds) {
      this.ended.set(grantId, end);
      if (this.ended.size > REMEMBERED_ENDS) this.ended.delete(this.ended.keys().next().value!);
      for (const session of this.byGrant.get(grantId) ?? []) {
        if (seen.has(session)) continue;
        seen.add(session);
        out.push({ session, grantId });
      }
    }
    for (const { session } of out) this.unlink(session);
    return out;
  }

  get size(): number {
    return this.bySession.size;
  }
}
