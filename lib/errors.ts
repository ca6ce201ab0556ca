/**
 * Domain errors as Moleculer errors. Each carries the HTTP status of the contract (§6.4) as `code`
 * and the type CONTRACT_ERROR, so the gateway can tell them apart from the broker's own errors
 * (ServiceNotFoundError also has code 404, but means "unavailable", not "no such resource").
 */
import { Errors } from "moleculer";

export const CONTRACT_ERROR = "CONTRACT_ERROR";

/** One validation problem (§6.4). */
export interface ValidationItem {
  type: string;
  loc: (string | number)[];
  msg: string;
  input?: unknown;
  ctx?: Record<string, unknown>;
}

export class ContractError extends Errors.MoleculerClientError {
  constructor(status: number, detail: string, items?: ValidationItem[]) {
    super(detail, status, CONTRACT_ERROR, items);
  }
}

/** 422 with one ValidationItem per problem. */
export function validationFailed(items: ValidationItem[]): ContractError {
  return new ContractError(422, "Validation failed", items);
}

export function badRequest(detail: string): ContractError {
  return new ContractError(400, detail);
}

export function notFound(detail: string): ContractError {
  return new ContractError(404, detail);
}

export function conflict(detail: string): ContractError {
  return new ContractError(409, detail);
}

/** True for errors raised on purpose by a service with a contract status. */
export function isContractError(err: unknown): err is ContractError {
  return (
    typeof err === "object" &&
    err !== null &&
    (err as { type?: unknown }).type === CONTRACT_ERROR &&
    typeof (err as { code?: unknown }).code === "number"
  );
}
