/**
 * What a SCRAM-SHA-256 login needs before the client's proof arrives: the salt of the principal the
 * startup user names and the verifiers of its tokens. A name nobody has gets a salt derived from a
 * secret kept in the store (as PostgreSQL's mock authentication does), the same on every replica
 * and after a restart, so the first server message never tells whether a name exists.
 */
import { randomBytes } from 'node:crypto';
import type { PrincipalRow, Store } from '../store/types.ts';
import { hmac, SCRAM_ITERATIONS, SCRAM_SALT_BYTES } from './scram-keys.ts';

/** Each token tried costs one HMAC and one hash; a principal with more live tokens logs in with its newest ones. */
export const MAX_SCRAM_CANDIDATES = 64;
const MOCK_SECRET_SETTING = 'postgres.scram_mock_secret';
/** Agent tokens belong to people, service accounts and admins; a name is looked up in that order. */
const LOGIN_KINDS: readonly PrincipalRow['kind'][] = ['user', 'service_account', 'admin'];

export interface ScramCandidate {
  readonly tokenId: string;
  readonly storedKey: Buffer;
  readonly serverKey: Buffer;
}

export interface ScramLogin {
  readonly salt: Buffer;
  readonly iterations: number;
  /** Empty for a name with no verifier: the exchange runs on and fails at the proof. */
  readonly candidates: readonly ScramCandidate[];
}

export class ScramLogins {
  private mockSecret: Promise<Buffer> | null = null;

  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether this name has a token that can log in with SCRAM (for `postgres.auth: both`). */
  async hasVerifiers(userName: string): Promise<boolean> {
    const principal = await this.principal(userName);
    if (principal === null) return false;
    return (await this.store.listScramVerifiers(principal.id, this.now(), 1)).length > 0;
  }

  async lookup(userName: string): Promise<ScramLogin> {
    const principal = await this.principal(userName);
    const salt = principal === null ? null : await this.store.getScramSalt(principal.id);
    if (principal === null || salt === null) return { salt: await this.mockSalt(userName), iterations: SCRAM_ITERATIONS, candidates: [] };
    const rows = await this.store.listScramVerifiers(principal.id, this.now(), MAX_SCRAM_CANDIDATES);
    const candidates = rows
      .filter((r) => r.salt === salt.salt && r.iterations === salt.iterations)
      .map((r) => ({ tokenId: r.tokenId, storedKey: Buffer.from(r.storedKey, 'base64'), serverKey: Buffer.from(r.serverKey, 'base64') }));
    return { salt: Buffer.from(salt.salt, 'base64'), iterations: salt.iterations, candidates };
  }

  private async principal(userName: string): Promise<PrincipalRow | null> {
    if (userName === '') return null;
    for (const kind of LOGIN_KINDS) {
      const row = await this.store.findPrincipal(kind, userName);
      if (row !== null) return row;
    }
    return null;
  }

  private async mockSalt(userName: string): Promise<Buffer> {
    this.mockSecret ??= this.store
      .setSettingIfAbsent(MOCK_SECRET_SETTING, randomBytes(32).toString('base64'))
      .then((s) => Buffer.from(s, 'base64'))
      .catch((err: unknown) => {
        this.mockSecret = null;
        throw err;
      });
    return hmac(await this.mockSecret, `scram salt\0${userName}`).subarray(0, SCRAM_SALT_BYTES);
  }
}
