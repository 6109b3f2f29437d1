import { paymentCardDetector } from '../../../src/masking/detectors/payment-card.ts';
import { detectorTable } from './detector-table.ts';

detectorTable(paymentCardDetector, [
  ['Visa 4242 4242 4242 4242 exp 12/27', ['4242 4242 4242 4242']],
  ['card_number=4111-1111-1111-1111;', ['4111-1111-1111-1111']],
  ['{"pan":"5555555555554444"}', ['5555555555554444']],
  ['Amex 3782 822463 10005 and 371449635398431', ['3782 822463 10005', '371449635398431']],
  ['Mastercard 2-series 2223003122003222', ['2223003122003222']],
  ['Discover 6011111111111117, JCB 3566002020360505, Diners 36227206271667', ['6011111111111117', '3566002020360505', '36227206271667']],
  ['13-digit Visa 4222222222222', ['4222222222222']],
  // a CVV after the number is not part of it
  ['4242 4242 4242 4242 123', ['4242 4242 4242 4242']],
  // Luhn-invalid
  ['4242 4242 4242 4241 was declined', []],
  ['5555555555554440', []],
  // Luhn-valid but no issuer uses the range (timestamps, ids)
  ['created_at=1710498151000 ts=1710498151000000000', []],
  ['reference 9000000000000008', []],
  ['order 7000000000000009', []],
  // mixed separators, decimals
  ['4242 4242-4242 4242', []],
  ['latency 0.4242424242424242', []],
]);
