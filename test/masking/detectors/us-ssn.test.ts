import { usSsnDetector } from '../../../src/masking/detectors/us-ssn.ts';
import { detectorTable } from './detector-table.ts';

detectorTable(usSsnDetector, [
  ['SSN 123-45-6789 on file', ['123-45-6789']],
  ['applicant 536 22 1234', ['536 22 1234']],
  ['SSN: 536221234', ['536221234']],
  ['social security no. 536221234', ['536221234']],
  // never issued: area 000, 666, 9xx; group 00; serial 0000; the Woolworth wallet number
  ['000-12-3456 666-12-3456 900-12-3456 123-00-4567 123-45-0000 078-05-1120', []],
  // nine digits without an SSN word nearby
  ['Invoice 536221234 paid', []],
  // other shapes
  ['phone 415-555-2671, date 2024-03-15, zip 02134-1234', []],
  ['part 123-45-67890', []],
]);
