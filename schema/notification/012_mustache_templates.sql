-- Templates are Mustache (rendered as plain text): {{order}} is the order's number (its id for
-- orders placed before numbers reached this service), and {{orderId}}, {{orderNumber}},
-- {{customerId}}, {{total}}, {{reason}}. Each notification is also delivered (an .eml file by default).
UPDATE templates SET subject = 'Your order {{order}} is confirmed',
    body = E'Thank you for your order!\n\nOrder {{order}} is confirmed. Total charged: {{total}}.\n\nWe will let you know when it ships.'
    WHERE kind = 'ORDER_CONFIRMED';
UPDATE templates SET subject = 'Your order {{order}} was cancelled',
    body = E'Order {{order}} could not be completed: {{reason}}.\n\nNothing was charged.'
    WHERE kind = 'ORDER_CANCELLED';
UPDATE templates SET subject = 'Your order {{order}} was cancelled and refunded',
    body = E'Order {{order}} was cancelled: {{reason}}.\n\n{{total}} was refunded to your card.'
    WHERE kind = 'ORDER_REFUNDED';
