"""The Help page's FAQ and tips (seeded data): (slug, kind, question ru/en, answer ru/en)."""

from __future__ import annotations

from models.enums import FaqKind

FAQ_SEED: list[tuple[str, FaqKind, str, str, str, str]] = [
    (
        "get-help-fast",
        FaqKind.FAQ,
        "Как быстро получить помощь?",
        "How to get help fast?",
        "1. Сначала изучите FAQ — возможно, ответ уже есть.\n"
        "2. Опишите проблему подробно — чем больше деталей, тем быстрее решение.\n"
        "3. Укажите правильную категорию — это ускорит маршрутизацию.\n"
        "4. Приложите скриншоты — визуальная информация помогает.",
        "1. Check the FAQ first: the answer may already be there.\n"
        "2. Describe the problem in detail: the more details, the faster the solution.\n"
        "3. Choose the right category: it speeds up routing.\n"
        "4. Attach screenshots: visual information helps.",
    ),
    (
        "no-answer",
        FaqKind.FAQ,
        "Что делать, если тикет не отвечают?",
        "What if nobody answers my ticket?",
        "1. Проверьте статус тикета.\n"
        "2. Убедитесь, что не требуется ваш ответ.\n"
        "3. Создайте новый тикет с пометкой «Срочно».\n"
        "4. Обратитесь к менеджеру напрямую.",
        "1. Check the ticket's status.\n"
        "2. Make sure support is not waiting for your reply.\n"
        '3. Create a new ticket marked "Urgent".\n'
        "4. Contact your manager directly.",
    ),
    (
        "describe-problem",
        FaqKind.FAQ,
        "Как правильно описать проблему?",
        "How to describe a problem?",
        "1. Что происходит — опишите проблему.\n"
        "2. Когда возникла — укажите время появления.\n"
        "3. Что вы делали — опишите ваши действия.\n"
        "4. Что ожидали — какой результат ожидали.\n"
        "5. Дополнительная информация — любые детали.",
        "1. What happens: describe the problem.\n"
        "2. When it started: give the time it appeared.\n"
        "3. What you did: describe your actions.\n"
        "4. What you expected: the result you expected.\n"
        "5. Anything else: any details.",
    ),
    (
        "change-category",
        FaqKind.FAQ,
        "Можно ли изменить категорию тикета?",
        "Can the category of a ticket be changed?",
        "• До обработки — можно изменить категорию.\n"
        "• Во время обработки — по согласованию со специалистом.\n"
        "• После закрытия — только создание нового тикета.",
        "• Before processing: yes, change it.\n"
        "• During processing: by agreement with the specialist (a request they approve).\n"
        "• After closure: only by creating a new ticket.",
    ),
    (
        "prepare",
        FaqKind.TIP,
        "Подготовка к обращению",
        "Preparing your request",
        "1. Соберите информацию — подготовьте все детали проблемы.\n"
        "2. Сделайте скриншоты — зафиксируйте проблему визуально.\n"
        "3. Проверьте FAQ — убедитесь, что ответа там нет.\n"
        "4. Определите категорию — выберите правильный тип вопроса.",
        "1. Gather information: prepare every detail of the problem.\n"
        "2. Take screenshots: capture the problem visually.\n"
        "3. Check the FAQ: make sure the answer is not there.\n"
        "4. Pick the category: choose the right question type.",
    ),
    (
        "describe",
        FaqKind.TIP,
        "Описание проблемы",
        "Describing the problem",
        "1. Будьте конкретны — избегайте общих формулировок.\n"
        "2. Указывайте детали — время, браузер, действия.\n"
        "3. Приводите примеры — конкретные случаи проблемы.\n"
        "4. Описывайте ожидания — что должно происходить.",
        "1. Be specific: avoid general wording.\n"
        "2. Give details: time, browser, actions.\n"
        "3. Give examples: concrete cases of the problem.\n"
        "4. Describe expectations: what should happen.",
    ),
    (
        "interact",
        FaqKind.TIP,
        "Взаимодействие с поддержкой",
        "Working with support",
        "1. Отвечайте быстро — не затягивайте с ответами.\n"
        "2. Предоставляйте дополнительную информацию — если просят.\n"
        "3. Тестируйте решения — проверяйте предложенные варианты.\n"
        "4. Сообщайте о результатах — информируйте о ходе решения.",
        "1. Answer quickly: don't delay your replies.\n"
        "2. Provide more information when asked.\n"
        "3. Test solutions: try the suggested options.\n"
        "4. Report results: keep support informed of progress.",
    ),
    (
        "document",
        FaqKind.TIP,
        "Документирование решений",
        "Documenting solutions",
        "1. Сохраняйте решения — записывайте найденные ответы.\n"
        "2. Создавайте заметки — фиксируйте важную информацию.\n"
        "3. Делитесь опытом — помогайте коллегам с похожими проблемами.\n"
        "4. Обновляйте знания — следите за изменениями в системе.",
        "1. Keep solutions: write down the answers you found.\n"
        "2. Take notes: record important information.\n"
        "3. Share experience: help colleagues with similar problems.\n"
        "4. Stay current: follow changes in the system.",
    ),
]
