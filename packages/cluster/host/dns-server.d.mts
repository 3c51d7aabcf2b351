// Types of dns-server.mjs (plain JavaScript, shipped to hosts as it is).
export interface RecordTable {
  domain: string;
  ttl?: number;
  records: Record<string, string[]>;
}
export interface Answer {
  rcode: 'NOERROR' | 'NXDOMAIN' | 'REFUSED';
  addresses: string[];
}
export function canonicalName(name: string): string;
export function answer(table: RecordTable, question: { name: string; type: string; class?: string }): Answer;
export function respond(table: RecordTable, message: Buffer): Buffer | undefined;
export function respondGeneral(table: RecordTable, message: Buffer): Buffer | undefined;
export function startDnsServer(options: { address: string; port: number; table: () => RecordTable }): Promise<{ address: string; port: number; close(): Promise<void> }>;
export function readRecords(file: string): RecordTable;
export function watchRecords(file: string, log?: (message: string) => void): { table(): RecordTable; close(): void };
