import { expect, test } from '@playwright/test';
import { ownerContext, screenshot, waitForHydration, watchForErrors } from './support';

// Journey: an admin deletes a ledger that is no longer needed. While a
// legal hold covers it the deletion is refused, naming the hold; once the
// hold is released it is scheduled after the grace period, confirmed by
// typing the ledger's name; the ledgers page shows it in deletion, and the
// deletion is cancelled from there. Each step is in the system log.
test('a ledger deletion is refused under a hold, scheduled, shown and cancelled', async ({ browser }) => {
  test.setTimeout(90_000);
  const context = await ownerContext(browser);
  const page = await context.newPage();
  const problems = watchForErrors(page);

  await page.goto('/ledgers');
  await waitForHydration(page);
  await page.getByLabel('Name').fill('scratch');
  await page.getByRole('button', { name: 'Create ledger' }).click();
  const created = page.getByRole('status').filter({ hasText: 'Ledger created' });
  await expect(created).toBeVisible();
  const ledgerId = (await created.getByRole('link').innerText()).trim();

  await page.goto(`/ledgers/${ledgerId}/holds`);
  await waitForHydration(page);
  await page.getByLabel('Case').fill('HOLD-DEL');
  await page.getByLabel('Reason', { exact: true }).fill('keep until the audit is over');
  await page.getByRole('button', { name: 'Place the hold' }).click();
  const placed = page.getByRole('status').filter({ hasText: /Hold hold_\w+ placed/ });
  await expect(placed).toBeVisible();
  const holdId = (await placed.innerText()).match(/hold_\w+/)![0];

  await page.goto(`/ledgers/${ledgerId}/retention`);
  await waitForHydration(page);
  await expect(page.getByTestId('deletion-held')).toContainText(`${holdId} (HOLD-DEL)`);
  await page.getByLabel('Type scratch to confirm').fill('scratch');
  await page.getByRole('button', { name: 'Delete this ledger' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'cannot be deleted while legal holds apply' })).toContainText(holdId);
  await expect(page.getByTestId('deletion-scheduled')).toHaveCount(0);

  await page.goto(`/ledgers/${ledgerId}/holds`);
  await waitForHydration(page);
  const hold = page.locator(`tr[data-hold="${holdId}"]`);
  await hold.getByLabel('Reason for releasing').fill('audit over');
  await hold.getByRole('button', { name: 'Release' }).click();
  await expect(hold).toContainText('released');

  await page.goto(`/ledgers/${ledgerId}/retention`);
  await waitForHydration(page);
  await page.getByLabel('Type scratch to confirm').fill('scrap');
  await page.getByRole('button', { name: 'Delete this ledger' }).click();
  await expect(page.getByRole('alert').filter({ hasText: "Type the ledger's name, scratch" })).toBeVisible();
  await page.getByLabel('Type scratch to confirm').fill('scratch');
  await page.getByRole('button', { name: 'Delete this ledger' }).click();
  await expect(page.getByRole('status').filter({ hasText: /scratch will be deleted at \d{4}-/ })).toBeVisible();
  await expect(page.getByTestId('deletion-scheduled')).toContainText('Deletion scheduled');

  await page.getByRole('navigation', { name: 'Primary' }).getByRole('link', { name: 'Ledgers' }).click();
  await waitForHydration(page);
  const row = page.locator('tr', { hasText: ledgerId });
  await expect(row.getByTestId('in-deletion')).toContainText('Deletion scheduled');
  await screenshot(page, 'ledger-in-deletion');
  await row.getByRole('button', { name: 'Cancel the deletion' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'The deletion of scratch is cancelled' })).toBeVisible();
  await expect(row.getByTestId('in-deletion')).toHaveCount(0);

  // The refusal, the scheduling and the cancellation are in the system log.
  for (const action of ['ledger.deletion_refused', 'ledger.deletion_scheduled', 'ledger.deletion_cancelled']) {
    await expect(async () => {
      await page.goto(`/system?action=${action}`);
      await expect(page.locator('table.events tbody tr')).toHaveCount(1);
    }).toPass({ timeout: 20_000 });
  }

  // The two refusals are answered 409 and 400, as they should be; nothing else failed.
  expect(problems.filter((p) => !/status of (400|409)/.test(p))).toEqual([]);
  await context.close();
});
