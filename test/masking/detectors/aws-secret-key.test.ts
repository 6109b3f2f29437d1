import { awsSecretKeyDetector } from '../../../src/masking/detectors/aws-secret-key.ts';
import { detectorTable } from './detector-table.ts';

const key = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

detectorTable(awsSecretKeyDetector, [
  [`aws_secret_access_key = ${key}`, [key]],
  [`{"AccessKeyId":"AKIAIOSFODNN7EXAMPLE","SecretAccessKey":"${key}"}`, [key]],
  [`export AWS_SECRET_ACCESS_KEY=${key}`, [key]],
  // no AWS / secret word nearby: 40 base64 characters are just data
  [`payload ${key} (base64)`, []],
  // next to the word, but a git SHA (hex, lower case) or too regular to be a key
  ['the secret rotation landed in 3f2a9c0d1e4b5a6f7c8d9e0f1a2b3c4d5e6f7a8b', []],
  ['aws secret: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', []],
  // part of a longer base64 run
  [`aws blob ${key}Zq7Lm2Xp9Rt4`, []],
]);
