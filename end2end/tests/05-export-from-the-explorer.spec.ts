import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { expect, test } from '@playwright/test';
import { auditstoreVerify, loadState, ownerContext, screenshot, waitForHydration, watchForErrors } from './support';

// Journey: a compliance officer filters the explorer, exports what it
// shows, watches the export finish, downloads the file, reads its SHA-256,
// and the real `auditstore verify` accepts it offline; the same file with
// one byte changed is refused; dropped on the page, the file verifies in the browser too.
test('an export started from the explorer downloads, verifies offline and in the browser', async ({ browser, request }) => {
  test.setTimeout(90_000);
  const state = loadState();
  const context = await ownerContext(browser);
  const page = await context.newPage();
  const problems = watchForErrors(page);

  await page.goto(`/ledgers/${state.ledgerId}?actor=user_42`);
  await waitForHydration(page);
  await page.getByTestId('export-link').click();
  await expect(page.getByRole('heading', { level: 1, name: 'Exports' })).toBeVisible();
  await expect(page.getByLabel('Actor ID')).toHaveValue('user_42');
  await waitForHydration(page);
  await page.getByLabel('Format').selectOption('jsonl');
  await page.getByRole('button', { name: 'Start the export' }).click();
  await expect(page.getByRole('status').filter({ hasText: /Export exp_\w+ started/ })).toBeVisible();

  // The list follows the job by itself until the export is done.
  const row = page.getByTestId('exports').locator('tbody tr').first();
  await expect(row.getByTestId('export-status')).toHaveText('done', { timeout: 30_000 });
  await expect(row).toContainText('actor_id = user_42');
  await expect(row).toContainText('owner@example.com');
  const sha256 = (await row.getByTestId('export-sha256').innerText()).trim();
  await screenshot(page, 'exports');

  const [download] = await Promise.all([page.waitForEvent('download'), row.getByTestId('export-download').click()]);
  expect(download.suggestedFilename()).toMatch(new RegExp(`^${state.ledgerId}-exp_\\w+\\.zip$`));
  const bytes = fs.readFileSync((await download.path())!);
  expect(createHash('sha256').update(bytes).digest('hex')).toBe(sha256);

  const key = (await request.get('/v1/checkpoint-key').then((r) => r.text())).trim();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'export-'));
  const file = path.join(dir, 'export.zip');
  fs.writeFileSync(file, bytes);
  const verified = auditstoreVerify(file, key);
  expect(verified.status, verified.stdout).toBe(0);
  expect(verified.stdout).toContain('VERIFIED');
  expect(verified.stdout).toContain('inclusion');

  const altered = Buffer.from(bytes);
  altered[Math.floor(altered.length / 3)] ^= 0x01;
  fs.writeFileSync(file, altered);
  const refused = auditstoreVerify(file, key);
  expect(refused.status, refused.stdout).toBe(1);
  expect(refused.stdout).toContain('FAILED');

  // The same file dropped on the page verifies in this browser, in WebAssembly; the altered
  // copy, chosen with the file picker, does not.
  const dataTransfer = await page.evaluateHandle((b64) => {
    const transfer = new DataTransfer();
    const data = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    transfer.items.add(new File([data], 'dropped.zip', { type: 'application/zip' }));
    return transfer;
  }, bytes.toString('base64'));
  await page.dispatchEvent('[data-testid="drop-zone"]', 'drop', { dataTransfer });
  await expect(page.getByTestId('export-verdict')).toContainText('Verified');
  await expect(page.getByTestId('export-steps').locator('li')).toHaveCount(4);
  await screenshot(page, 'export-verified-in-browser');
  await page.getByLabel('Export file to verify').setInputFiles({ name: 'altered.zip', mimeType: 'application/zip', buffer: altered });
  await expect(page.getByTestId('export-verdict')).toContainText('VERIFICATION FAILED');
  await expect(page.getByTestId('export-steps').locator('li').last()).toHaveAttribute('data-ok', 'false');

  // A Parquet export of the same events verifies in the browser too.
  await page.getByLabel('Format').selectOption('parquet');
  await page.getByRole('button', { name: 'Start the export' }).click();
  const parquetRow = page.getByTestId('exports').locator('tbody tr').first();
  await expect(parquetRow).toContainText('parquet');
  await expect(parquetRow.getByTestId('export-status')).toHaveText('done', { timeout: 30_000 });
  const [parquetDownload] = await Promise.all([
    page.waitForEvent('download'),
    parquetRow.getByTestId('export-download').click(),
  ]);
  const parquet = fs.readFileSync((await parquetDownload.path())!);
  await page.getByLabel('Export file to verify').setInputFiles({ name: 'export.zip', mimeType: 'application/zip', buffer: parquet });
  await expect(page.getByTestId('export-verdict')).toContainText('Verified');
  await expect(page.getByTestId('export-steps')).toContainText('each leaf hash recomputed from its content');

  expect(problems).toEqual([]);
  await context.close();
});
