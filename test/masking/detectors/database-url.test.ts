import { databaseUrlDetector } from '../../../src/masking/detectors/database-url.ts';
import { detectorTable } from './detector-table.ts';

detectorTable(databaseUrlDetector, [
  ['DATABASE_URL=postgres://app:s3cr3t-P4ss@db.internal:5432/app', ['s3cr3t-P4ss']],
  ['postgresql://svc_reporting:Xk9%23mP2@prod-db.example.com/analytics?sslmode=require', ['Xk9%23mP2']],
  ['mysql://root:hunter2@localhost:3306/shop and mongodb+srv://etl:Zq7Lm2Xp@cluster0.example.net/orders', ['hunter2', 'Zq7Lm2Xp']],
  ['redis://:p4ssw0rd@cache.internal:6379/0, amqps://guest:Zq7Lm2@mq.internal:5671/', ['p4ssw0rd', 'Zq7Lm2']],
  // no password, or a template
  ['postgres://app@db.internal:5432/main and postgresql://localhost/test', []],
  ['postgres://user:${DB_PASSWORD}@db/app, mysql://root:<password>@localhost, amqp://guest:****@mq/', []],
  ['postgres://localhost:5432/db (a port is not a password)', []],
  ['https://user:pass@example.com is not a database URL', []],
]);
