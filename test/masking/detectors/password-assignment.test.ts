import { passwordAssignmentDetector } from '../../../src/masking/detectors/password-assignment.ts';
import { detectorTable } from './detector-table.ts';

detectorTable(passwordAssignmentDetector, [
  ['password=Xk9#mP2$vL7q', ['Xk9#mP2$vL7q']],
  ['DB_PASSWORD: "Tr0ub4dor&3x"', ['Tr0ub4dor&3x']],
  ['{"client_secret": "9f8Kq2LmZx7Wp4Rt"}', ['9f8Kq2LmZx7Wp4Rt']],
  ["api_key = 'Zq7Lm2Xp9Rt4'", ['Zq7Lm2Xp9Rt4']],
  ['spring.datasource.password=Summer2024!', ['Summer2024!']],
  ['https://api.example.com/v1?access_token=Zq7Lm2Xp9Rt4&page=2', ['Zq7Lm2Xp9Rt4']],
  ["INSERT INTO cfg VALUES ('password: ''Zq7Lm2Xp9Rt4''')", ['Zq7Lm2Xp9Rt4']],
  // placeholders, templates, our own redactions, low entropy, no assignment
  ['password: ******** and password=${DB_PASS} and api_key: <your-api-key>', []],
  ['secret: true, token: [REDACTED], PASSWORD=changeme, password = None', []],
  ['client_secret: process.env.CLIENT_SECRET', []],
  ['password=aaaaaaaaaaaa', []],
  ['The password is stored in Vault; max_tokens=4096', []],
]);
