import { emailDetector } from '../../../src/masking/detectors/email.ts';
import { detectorTable } from './detector-table.ts';

detectorTable(emailDetector, [
  ['Please send it to john.doe@example.com today.', ['john.doe@example.com']],
  ['cc: Maria.Garcia+invoices@mail.example.co.uk, thanks', ['Maria.Garcia+invoices@mail.example.co.uk']],
  ['{"email":"o_brien-99@sub.acme-corp.io"}', ['o_brien-99@sub.acme-corp.io']],
  ['two: a@b.co and x.y@z.org.', ['a@b.co', 'x.y@z.org']],
  ['mailto:jane@example.fr', ['jane@example.fr']],
  ['a typo is still an address: john..doe@example.com', ['john..doe@example.com']],
  // look-alikes
  ['ping @channel and @here', []],
  ['npm i @types/node@20.11.5', []],
  ['use logo@2x.png on retina screens', []],
  ['mail root@localhost', []],
  ['postgres://app@db.internal:5432/main', []],
  ['a.@example.com and .@x.com', []],
  ['contact jane at example dot com', []],
]);
