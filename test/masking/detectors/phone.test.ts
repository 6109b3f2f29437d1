import { phoneDetector } from '../../../src/masking/detectors/phone.ts';
import { detectorTable } from './detector-table.ts';

detectorTable(phoneDetector, [
  ['Call +44 20 7946 0958 now', ['+44 20 7946 0958']],
  ['office (415) 555-2671, cell 415.555.0134', ['(415) 555-2671', '415.555.0134']],
  ['US support +1-202-555-0143.', ['+1-202-555-0143']],
  ['toll free 1-800-555-0199', ['1-800-555-0199']],
  ['E.164 +14155552671', ['+14155552671']],
  ['UK +44 (0)20 7946 0018 or 020 7946 0018 or 07700 900123', ['+44 (0)20 7946 0018', '020 7946 0018', '07700 900123']],
  ['Paris +33 1 42 68 53 00, mobile 06 12 34 56 78 or 01.42.68.53.00', ['+33 1 42 68 53 00', '06 12 34 56 78', '01.42.68.53.00']],
  ['Berlin +49 30 12345678, Tokyo +81 3-1234-5678, São Paulo +55 11 91234-5678', ['+49 30 12345678', '+81 3-1234-5678', '+55 11 91234-5678']],
  // the digit after the number is not part of it
  ['dial +44 20 7946 0958 2 times', ['+44 20 7946 0958']],
  // look-alikes
  ['case 123-456-7890 (area codes never start with 1)', []],
  ['exchange 415-055-2671 starts with 0', []],
  ['dates 2024-03-15 and 15.03.2024, time 10:30:45', []],
  ['ISBN 978-3-16-148410-0 and ISBN-10 0-306-40615-2', []],
  ['version 1.2.3.4, IP 10.0.0.1, amount 1,234,567.89', []],
  ['card 6011 0566 5566 5558 declined', []],
  ['ZIP 02134-1234, dial 555-1234 locally, extension 4521', []],
  ['+1 234 (too short)', []],
  ['4155552671 without separators is just a number', []],
]);
