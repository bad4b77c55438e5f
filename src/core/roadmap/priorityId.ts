import { UserError } from '../model/userError';

// Ids come from roadmap headings or from what a user typed. They end up in a directory
// name and a git branch, so only a small safe alphabet is accepted: no '/', no '..', no
// spaces, no shell metacharacters, nothing that git check-ref-format would reject.
const SAFE_ID = /^[A-Za-z][A-Za-z0-9]*(?:[-_.][A-Za-z0-9]+)*$/;
const MAX_ID_LENGTH = 64;

/** Returns the id as given, or throws a UserError that says exactly what is wrong. */
export function validatePriorityId(input: string): string {
  const id = input.trim();
  if (id.length === 0) throw new UserError('The priority id is empty.', 'BAD_PRIORITY');
  if (id.length > MAX_ID_LENGTH) {
    throw new UserError(`The priority id is ${id.length} characters long; at most ${MAX_ID_LENGTH} are allowed.`, 'BAD_PRIORITY');
  }
  if (!SAFE_ID.test(id)) {
    throw new UserError(
      `"${printable(id)}" is not a valid priority id: use letters, digits and single '-', '_' or '.' between them, such as US-036 or PRIORITY-20.`,
      'BAD_PRIORITY',
    );
  }
  return id;
}

/**
 * Lower-case, filesystem- and ref-safe name: 'PRIORITY-2.5' -> 'priority-2.5'. The '.' is
 * kept so names stay distinct: with '.' -> '-', US-1.2 and the second attempt of US-1
 * ('us-1-2') once shared a branch and a folder.
 */
export function prioritySlug(id: string): string {
  return validatePriorityId(id).toLowerCase().replace(/_/g, '-');
}

export function branchName(id: string, attempt: number): string {
  const slug = prioritySlug(id);
  return attempt > 1 ? `code-developer/${slug}-${attempt}` : `code-developer/${slug}`;
}

export function worktreeDirName(id: string, attempt: number): string {
  const slug = prioritySlug(id);
  return attempt > 1 ? `${slug}-${attempt}` : slug;
}

function printable(s: string): string {
  const shown = s.length > 40 ? `${s.slice(0, 40)}…` : s;
  return shown.replace(/[\u0000-\u001f\u007f]/g, '?');
}
