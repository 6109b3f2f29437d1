/**
 * The one list of PostgreSQL protocol message type bytes (protocol 3.0, "Message Formats"), for
 * both directions. Const enums: every use compiles to the number itself.
 */

/** Messages the server sends. */
export const enum BackendCode {
  ParseComplete = 0x31, // 1
  BindComplete = 0x32, // 2
  CloseComplete = 0x33, // 3
  CommandComplete = 0x43, // C
  DataRow = 0x44, // D
  ErrorResponse = 0x45, // E
  CopyInResponse = 0x47, // G
  CopyOutResponse = 0x48, // H
  EmptyQueryResponse = 0x49, // I
  NotificationResponse = 0x41, // A
  BackendKeyData = 0x4b, // K
  NoticeResponse = 0x4e, // N
  Authentication = 0x52, // R
  ParameterStatus = 0x53, // S
  RowDescription = 0x54, // T
  ReadyForQuery = 0x5a, // Z
  CopyDone = 0x63, // c
  CopyData = 0x64, // d
  NoData = 0x6e, // n
  PortalSuspended = 0x73, // s
  NegotiateProtocolVersion = 0x76, // v
}

/** Messages the client sends after the startup phase. */
export const enum FrontendCode {
  Bind = 0x42, // B
  Close = 0x43, // C
  Describe = 0x44, // D
  Execute = 0x45, // E
  FunctionCall = 0x46, // F
  Flush = 0x48, // H
  Parse = 0x50, // P
  Query = 0x51, // Q
  Sync = 0x53, // S
  Terminate = 0x58, // X
  CopyDone = 0x63, // c
  CopyData = 0x64, // d
  CopyFail = 0x66, // f
  AuthResponse = 0x70, // p
}
