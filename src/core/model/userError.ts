/**
 * An error whose message is meant for the user as is: bad input, a refused action,
 * a missing tool. Anything else is a bug and is reported with its stack.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly code: string = 'USER_ERROR',
  ) {
    super(message);
    this.name = 'UserError';
  }
}
