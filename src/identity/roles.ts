/**
 * What a person may do on the admin API, from the groups their identity provider gives them
 * (identity.roles in gatehouse.yaml). A route names the roles it allows; admin holds every right.
 */
export const ROLES = ['admin', 'approver', 'auditor', 'user'] as const;

export type Role = (typeof ROLES)[number];
