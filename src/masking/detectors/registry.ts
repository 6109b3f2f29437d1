import type { EntityType } from '../entity-types.ts';
import type { Detector } from '../types.ts';
import { awsSecretKeyDetector } from './aws-secret-key.ts';
import { databaseUrlDetector } from './database-url.ts';
import { emailDetector } from './email.ts';
import { ibanDetector } from './iban.ts';
import { ipv4Detector, ipv6Detector } from './ip-address.ts';
import { jwtDetector } from './jwt.ts';
import { passwordAssignmentDetector } from './password-assignment.ts';
import { paymentCardDetector } from './payment-card.ts';
import { personDetector } from './person.ts';
import { phoneDetector } from './phone.ts';
import { privateKeyDetector } from './private-key.ts';
import {
  anthropicKeyDetector,
  awsAccessKeyDetector,
  gatehouseTokenDetector,
  githubTokenDetector,
  gitlabTokenDetector,
  googleApiKeyDetector,
  openaiKeyDetector,
  slackTokenDetector,
  slackWebhookDetector,
  stripeKeyDetector,
} from './token-secrets.ts';
import { usSsnDetector } from './us-ssn.ts';

/** The built-in detector for each entity type. Detectors are stateless and shared by all profiles. */
export const BUILTIN_DETECTORS: Readonly<Record<EntityType, Detector>> = {
  email: emailDetector,
  phone: phoneDetector,
  credit_card: paymentCardDetector,
  iban: ibanDetector,
  us_ssn: usSsnDetector,
  ipv4: ipv4Detector,
  ipv6: ipv6Detector,
  person: personDetector,
  aws_access_key: awsAccessKeyDetector,
  aws_secret_key: awsSecretKeyDetector,
  github_token: githubTokenDetector,
  gitlab_token: gitlabTokenDetector,
  slack_token: slackTokenDetector,
  slack_webhook: slackWebhookDetector,
  stripe_key: stripeKeyDetector,
  openai_key: openaiKeyDetector,
  anthropic_key: anthropicKeyDetector,
  google_api_key: googleApiKeyDetector,
  jwt: jwtDetector,
  private_key: privateKeyDetector,
  database_url: databaseUrlDetector,
  password_assignment: passwordAssignmentDetector,
  gatehouse_token: gatehouseTokenDetector,
};
