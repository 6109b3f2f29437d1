import { generateKeyPairSync } from 'node:crypto';
import { privateKeyDetector } from '../../../src/masking/detectors/private-key.ts';
import { detectorTable } from './detector-table.ts';

const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'sec1', format: 'pem' }).toString().trim();
const pkcs8 = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString().trim();
const escaped = JSON.stringify(pkcs8).slice(1, -1);
const truncated = ec.slice(0, ec.indexOf('-----END'));
const pub = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString().trim();

detectorTable(privateKeyDetector, [
  [`Here is the key:\n${ec}\nthanks`, [ec]],
  [`{"private_key":"${escaped}","client_email":"x@example.com"}`, [escaped]],
  ['-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n-----END OPENSSH PRIVATE KEY-----', ['-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n-----END OPENSSH PRIVATE KEY-----']],
  // cut off before its END line: mask from BEGIN through the body
  [`pasted: ${truncated}`, [truncated]],
  // public material
  [pub, []],
  ['-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----', []],
  ['the string -----BEGIN PRIVATE KEY is not a header', []],
]);
