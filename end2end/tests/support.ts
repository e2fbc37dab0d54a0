import { spawnSync } from 'node:child_process';
import { expect, Page } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Collects console errors, uncaught exceptions and failed requests of a page (not those a navigation cancelled). */
export function watchForErrors(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) => {
    const error = request.failure()?.errorText ?? '';
    // A navigation cancels what the page was still fetching (the favicon,
    // the integrity banner's request): the browser's doing, not a failure.
    if (error === 'net::ERR_ABORTED') return;
    problems.push(`request failed: ${request.url()} ${error}`);
  });
  return problems;
}

/** Waits until the WebAssembly bundle has hydrated the server-rendered page. */
export async function waitForHydration(page: Page): Promise<void> {
  await expect(page.locator('.app')).toHaveAttribute('data-hydrated', 'true');
}

/** Saves a full-page screenshot into end2end/screenshots/ for humans to look at. */
export async function screenshot(page: Page, name: string): Promise<void> {
  const dir = path.join(__dirname, '..', 'screenshots');
  fs.mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: true });
}

import * as OTPAuth from 'otpauth';
import type { Browser, BrowserContext } from '@playwright/test';

/** What the journeys hand to each other: who exists, and their sessions. */
export interface JourneyState {
  ownerEmail: string;
  password: string;
  ownerSecret: string;
  ledgerId: string;
  eventId: string;
  writeKey: string;
  /** TOTP steps already used per email: a code is never accepted twice. */
  usedSteps: Record<string, number>;
}

const statePath = process.env.AUDITSTORE_E2E_STATE ?? path.join(__dirname, '..', 'test-results', 'journey-state.json');
const ownerSession = statePath.replace(/\.json$/, '-owner-session.json');

export function saveState(state: JourneyState): void {
  fs.writeFileSync(statePath, JSON.stringify(state, null, 2));
}

export function loadState(): JourneyState {
  return JSON.parse(fs.readFileSync(statePath, 'utf8')) as JourneyState;
}

export async function saveOwnerSession(context: BrowserContext): Promise<void> {
  await context.storageState({ path: ownerSession });
}

export async function ownerContext(browser: Browser): Promise<BrowserContext> {
  return browser.newContext({ storageState: ownerSession, ignoreHTTPSErrors: true });
}

/** The TOTP code of `step` (30-second steps, SHA-1, 6 digits: RFC 6238 defaults). */
export function codeAt(secret: string, step: number): string {
  const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30 });
  return totp.generate({ timestamp: step * 30_000 });
}

export function currentStep(): number {
  return Math.floor(Date.now() / 30_000);
}

/**
 * A code for a step this user has not used yet, waiting for the next step
 * when needed (the server accepts one step of skew either side).
 */
export async function freshCode(state: JourneyState, email: string, secret: string): Promise<string> {
  const used = state.usedSteps[email] ?? -1;
  let step = currentStep();
  if (step <= used) {
    step = used + 1;
    if (step > currentStep() + 1) {
      await new Promise((r) => setTimeout(r, (step - 1) * 30_000 - Date.now() + 500));
    }
  }
  state.usedSteps[email] = step;
  saveState(state);
  return codeAt(secret, step);
}

/** Signs in through the form and waits for the ledgers page. */
export async function signIn(page: Page, email: string, password: string, code: string): Promise<void> {
  await page.goto('/login');
  await waitForHydration(page);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByLabel('Authenticator code or recovery code').fill(code);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/ledgers$/);
  await expect(page.getByRole('heading', { level: 1, name: 'Ledgers' })).toBeVisible();
}

/** Runs the real `auditstore verify FILE --key KEY` (the binary scripts/test.sh passes). */
export function auditstoreVerify(file: string, key: string): { status: number | null; stdout: string } {
  const bin = process.env.AUDITSTORE_BIN;
  if (!bin) throw new Error('scripts/test.sh passes the binary in AUDITSTORE_BIN');
  const run = spawnSync(bin, ['verify', file, '--key', key], { encoding: 'utf8' });
  return { status: run.status, stdout: run.stdout };
}
