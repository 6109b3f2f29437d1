import { personDetector } from '../../../src/masking/detectors/person.ts';
import { detectorTable } from './detector-table.ts';

detectorTable(personDetector, [
  ['Yesterday John Smith met Maria Garcia in Paris.', ['John Smith', 'Maria Garcia']],
  ['Please ask Dr. Alan Turing to review the contract.', ['Alan Turing']],
  ['the build failed again after the migration', []],
  ['contact wei.chen@example.com or pa55w0rd', []],
]);
