import { spawnSync } from 'node:child_process';
import { expect, test } from '@playwright/test';
import { loadState, ownerContext, screenshot, waitForHydration, watchForErrors } from './support';

// Journey: someone with access to the database removes an event's content
// behind AuditStore's back. The tamper monitor finds it; every page of the
// dashboard shows a red banner naming the kind, the ledger and the seq
// range with what to do, until the owner acknowledges it. The finding and
// the acknowledgement are in the system log.
test('a forged tombstone raises the integrity banner until the owner acknowledges it', async ({ browser }) => {
  test.setTimeout(90_000);
  const state = loadState();
  const database = process.env.AUDITSTORE_E2E_DB;
  if (!database) throw new Error('scripts/test.sh passes the SQLite file in AUDITSTORE_E2E_DB');
  const context = await ownerContext(browser);
  const page = await context.newPage();
  const problems = watchForErrors(page);

  await page.goto('/ledgers');
  await waitForHydration(page);
  await expect(page.getByTestId('integrity-banner')).toHaveCount(0);
  // The Ledgers page says what the monitor verified, and how long ago.
  const monitor = page.locator('tr', { hasText: state.ledgerId }).getByTestId('monitor-status');
  await expect(async () => {
    await page.reload();
    await expect(monitor).toHaveAttribute('data-status', 'ok', { timeout: 1_000 });
  }).toPass({ timeout: 30_000 });
  await expect(page.locator('tr', { hasText: state.ledgerId })).toContainText(/verified \d+ s ago/);

  // Python's own sqlite3 stands in for an attacker's client: the guards on
  // the events table are dropped, and seq 0's content removed.
  const script = [
    'import sqlite3, sys',
    'db = sqlite3.connect(sys.argv[1])',
    "names = [r[0] for r in db.execute(\"SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events'\")]",
    'for name in names: db.execute(f\'DROP TRIGGER "{name}"\')',
    "db.execute('UPDATE events SET content = NULL WHERE ledger_id = ? AND seq = 0', (sys.argv[2],))",
    'db.commit()',
  ].join('\n');
  const run = spawnSync('python3', ['-c', script, database, state.ledgerId], { encoding: 'utf8' });
  expect(run.status, run.stderr).toBe(0);

  // The monitor runs every second in the tests (each pass a full sweep).
  const banner = page.getByTestId('integrity-banner');
  await expect(async () => {
    await page.reload();
    await expect(banner).toBeVisible({ timeout: 1_000 });
  }).toPass({ timeout: 30_000 });
  const finding = banner.getByTestId('anomaly');
  await expect(finding).toHaveCount(1);
  await expect(finding).toHaveAttribute('data-kind', 'forged_tombstone');
  await expect(finding).toContainText('seq 0 to 0');
  await expect(finding).toContainText('backup');
  await expect(finding.getByRole('link')).toHaveAttribute('href', `/ledgers/${state.ledgerId}`);
  await screenshot(page, 'integrity-banner');

  await page.goto('/ledgers');
  await expect(monitor).toHaveAttribute('data-status', 'anomaly');
  await expect(monitor).toContainText('1 open anomaly');

  // On the account's other pages too.
  await page.goto('/holds');
  await waitForHydration(page);
  await expect(banner).toBeVisible();

  await finding.getByRole('button', { name: 'Acknowledge' }).click();
  await expect(banner).toHaveCount(0);
  await page.goto('/ledgers');
  await waitForHydration(page);
  await expect(banner).toHaveCount(0);

  for (const action of ['integrity.anomaly', 'integrity.acknowledged']) {
    await page.goto(`/system?action=${action}`);
    await expect(page.locator('table.events tbody tr')).toHaveCount(1);
  }
  expect(problems).toEqual([]);
  await context.close();
});
