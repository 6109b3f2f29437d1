import { jwtDetector } from '../../../src/masking/detectors/jwt.ts';
import { detectorTable } from './detector-table.ts';

const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
const hs = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: '1234567890', name: 'John Doe', iat: 1516239022 })}.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c`;
const unsecured = `${b64({ alg: 'none' })}.${b64({ sub: 'svc_42' })}.`;
const noAlg = `${b64({ typ: 'JWT', kid: 'abc' })}.${b64({ sub: '1' })}.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c`;

detectorTable(jwtDetector, [
  [`Authorization: Bearer ${hs}`, [hs]],
  [`{"id_token":"${hs}"}`, [hs]],
  [`unsecured ${unsecured} still carries claims`, [unsecured]],
  // the header must be JSON with an algorithm
  [`token ${noAlg}`, []],
  ['header eyJhbGciOiJIUzI1NiJ9 alone, or eyJ0eXAiOiJKV1QifQ.e30', []],
  ['eyJnot-base64!!.eyJ4.sig', []],
]);
