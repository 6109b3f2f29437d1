import { ibanDetector } from '../../../src/masking/detectors/iban.ts';
import { detectorTable } from './detector-table.ts';

detectorTable(ibanDetector, [
  ['Wire it to GB82 WEST 1234 5698 7654 32 please', ['GB82 WEST 1234 5698 7654 32']],
  ['IBAN: DE89370400440532013000.', ['DE89370400440532013000']],
  ['FR1420041010050500013M02606 and NL91ABNA0417164300', ['FR1420041010050500013M02606', 'NL91ABNA0417164300']],
  ['Norway NO9386011117947 is short', ['NO9386011117947']],
  ['{"iban":"CH9300762011623852957"}', ['CH9300762011623852957']],
  ['after a false start AB12 GB82 WEST 1234 5698 7654 32', ['GB82 WEST 1234 5698 7654 32']],
  // wrong check digits
  ['GB83 WEST 1234 5698 7654 32', []],
  ['DE88370400440532013000', []],
  // wrong length for the country, unknown country, broken grouping
  ['DE8937040044053201300', []],
  ['ZZ89370400440532013000', []],
  ['GB82 WEST 12345698 7654 32', []],
  ['GB82WEST12345698765432X', []],
  ['ORDER AB12 CD34 EF56', []],
]);
