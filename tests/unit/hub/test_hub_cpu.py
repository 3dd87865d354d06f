"""The hub's CPU queue: starts before logins, arrival order within each, no slot lost."""

from __future__ import annotations

import asyncio

from vce.hub.cpu import LOGIN, START, CpuQueue


async def _run(queue: CpuQueue, tasks: list[tuple[str, int]], order: list[str]) -> None:
    async def task(name: str, priority: int) -> None:
        async with queue.hold(priority):
            order.append(name)
            await asyncio.sleep(0.001)

    await asyncio.gather(*(task(n, p) for n, p in tasks))


def test_starts_go_before_waiting_logins_and_each_kind_in_arrival_order() -> None:
    order: list[str] = []
    tasks = [("login1", LOGIN), ("login2", LOGIN), ("login3", LOGIN)]
    tasks += [("start1", START), ("start2", START)]
    asyncio.run(_run(CpuQueue(1), tasks, order))
    assert order == ["login1", "start1", "start2", "login2", "login3"]


def test_two_slots_run_two_tasks_at_once() -> None:
    queue, peak, running = CpuQueue(2), [0], [0]

    async def task() -> None:
        async with queue.hold(START):
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            await asyncio.sleep(0.005)
            running[0] -= 1

    async def main() -> None:
        await asyncio.gather(*(task() for _ in range(6)))

    asyncio.run(main())
    assert peak == [2]


def test_a_cancelled_waiter_does_not_keep_or_lose_a_slot() -> None:
    queue = CpuQueue(1)

    async def main() -> list[str]:
        order: list[str] = []
        release = asyncio.Event()

        async def holder() -> None:
            async with queue.hold(START):
                await release.wait()

        async def waiter(name: str) -> None:
            async with queue.hold(LOGIN):
                order.append(name)

        first = asyncio.create_task(holder())
        await asyncio.sleep(0)
        doomed = asyncio.create_task(waiter("cancelled"))
        survivor = asyncio.create_task(waiter("survivor"))
        await asyncio.sleep(0)
        doomed.cancel()
        release.set()
        await asyncio.gather(first, survivor, doomed, return_exceptions=True)
        async with queue.hold(LOGIN):  # the slot is free again
            order.append("after")
        return order

    assert asyncio.run(main()) == ["survivor", "after"]
